"""The store contract: one suite, run unchanged against every store (file:// and gs://).

Everything above the store layer (backends, runner, logs, results, outputs) relies on
exactly these behaviours, so a store that passes here can hold jobs.
"""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from kinetic.client.downloads import download, list_outputs
from kinetic.job.uploads import upload_dir
from kinetic.model.errors import IntegrityError, JobExistsError, StorageError
from kinetic.store import ObjectInfo, ObjectNotFound, open_store
from kinetic.store.logsink import LogSink
from kinetic.wire.framing import frame, load_framed, store_framed


@pytest.fixture
def store(store_uri):
    return open_store(store_uri)


def digest_of(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


class Trickle(io.RawIOBase):
    """A non-seekable stream that returns short reads, like a pipe."""

    def __init__(self, data: bytes, step: int = 100_003):
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


# -- whole objects ---------------------------------------------------------------------------
def test_write_read_exists(store):
    assert not store.exists("jobs/a/handle.json")
    store.write_bytes("jobs/a/handle.json", b'{"v": 1}')
    assert store.exists("jobs/a/handle.json")
    assert store.read_bytes("jobs/a/handle.json") == b'{"v": 1}'
    store.write_bytes("jobs/a/handle.json", b'{"v": 2}')  # without if_absent: replaced
    assert store.read_bytes("jobs/a/handle.json") == b'{"v": 2}'
    store.write_bytes("jobs/a/empty", b"")
    assert store.read_bytes("jobs/a/empty") == b""
    assert not store.exists("jobs/a")  # a 'directory' is not an object


def test_write_once_collision(store):
    store.write_bytes("jobs/a/handle.json", b"first", if_absent=True)
    with pytest.raises(JobExistsError, match="already exists"):
        store.write_bytes("jobs/a/handle.json", b"second", if_absent=True)
    with pytest.raises(JobExistsError):
        store.write_bytes("jobs/a/handle.json", b"first", if_absent=True)  # even the same bytes
    with pytest.raises(JobExistsError):
        store.upload("jobs/a/handle.json", io.BytesIO(b"third"), if_absent=True)
    assert store.read_bytes("jobs/a/handle.json") == b"first"


def test_missing_objects(store):
    with pytest.raises(ObjectNotFound, match=r"jobs/none/state\.json") as info:
        store.read_bytes("jobs/none/state.json")
    assert isinstance(info.value, KeyError) and isinstance(info.value, StorageError)
    with pytest.raises(ObjectNotFound):
        store.download("jobs/none/result.pkl", io.BytesIO())
    assert not store.exists("jobs/none/state.json")


def test_keys_cannot_escape(store):
    with pytest.raises(StorageError):
        store.read_bytes("../outside")


@pytest.mark.parametrize("size", [0, 1, 1_000_000, 9 * 1024 * 1024])
def test_upload_download_digest(store, size):
    data = os.urandom(size)
    digest = store.upload("jobs/a/payload.pkl", io.BytesIO(data))
    assert (digest.size, digest.sha256) == digest_of(data)
    out = io.BytesIO()
    assert store.download("jobs/a/payload.pkl", out) == digest
    assert out.getvalue() == data


def test_upload_from_pipe_like_stream(store):
    data = os.urandom(9 * 1024 * 1024 + 17)  # over the single-request size, size unknown
    digest = store.upload("jobs/a/stream.bin", io.BufferedReader(Trickle(data)))
    assert (digest.size, digest.sha256) == digest_of(data)
    assert store.read_bytes("jobs/a/stream.bin") == data


def test_upload_from_file(store, tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(300_000))
    with path.open("rb") as f:
        f.seek(1000)  # uploads what is left from the current position
        digest = store.upload("jobs/a/file.bin", f)
    assert (digest.size, digest.sha256) == digest_of(path.read_bytes()[1000:])


# -- listing and deleting ----------------------------------------------------------------------
def populate(store) -> None:
    for key in [
        "jobs/a/handle.json",
        "jobs/a/output/model/weights.bin",
        "jobs/a/output/metrics.json",
        "jobs/ab/handle.json",
        "jobs/b/handle.json",
        "other/x",
    ]:
        store.write_bytes(key, key.encode())


def test_list(store):
    populate(store)
    assert store.list("jobs/a") == [
        ObjectInfo("jobs/a/handle.json", len(b"jobs/a/handle.json")),
        ObjectInfo("jobs/a/output/metrics.json", len(b"jobs/a/output/metrics.json")),
        ObjectInfo("jobs/a/output/model/weights.bin", len(b"jobs/a/output/model/weights.bin")),
    ]  # sorted, recursive, and 'jobs/a' never matches 'jobs/ab'
    assert [o.key for o in store.list("jobs/a/output/")] == [
        "jobs/a/output/metrics.json",
        "jobs/a/output/model/weights.bin",
    ]
    assert store.list("nothing/here") == []
    assert len(store.list("")) == 6


def test_list_children(store):
    populate(store)
    assert store.list_children("jobs") == ["a", "ab", "b"]
    assert store.list_children("jobs/a") == ["output"]  # directories only, not files
    assert store.list_children("") == ["jobs", "other"]
    assert store.list_children("missing") == []


def test_delete_prefix(store):
    populate(store)
    assert store.delete_prefix("jobs/a") == 3
    assert [o.key for o in store.list("jobs")] == ["jobs/ab/handle.json", "jobs/b/handle.json"]
    assert store.list_children("jobs") == ["ab", "b"]
    assert store.delete_prefix("jobs/a") == 0
    assert store.delete_prefix("never/was") == 0


# -- logs --------------------------------------------------------------------------------------
def test_logs_append_and_read(store):
    prefix = "jobs/a/logs"
    assert store.read_log(prefix) == (b"", 0)
    assert store.read_log(prefix, 7) == (b"", 7)
    store.append_log(prefix, 0, b"line 1\n")
    store.append_log(prefix, 7, b"line 2\nline")
    store.append_log(prefix, 18, b" 3\n")
    full = b"line 1\nline 2\nline 3\n"
    assert store.read_log(prefix) == (full, len(full))
    for offset in range(len(full) + 1):  # resuming anywhere returns exactly the rest
        assert store.read_log(prefix, offset) == (full[offset:], len(full))


def test_log_end_and_a_second_writer_appending(store):
    prefix = "jobs/a/logs"
    assert store.log_end(prefix) == 0
    first = LogSink(store, prefix)
    first.write(b"run 1\n")
    first.close()
    assert store.log_end(prefix) == 6
    # The same attempt running again (a replaced pod) starts where the log ends.
    again = LogSink(store, prefix, offset=store.log_end(prefix))
    again.write(b"run 2\n")
    again.close()
    assert store.read_log(prefix) == (b"run 1\nrun 2\n", 12)


def test_tail_reads_only_the_end_of_a_long_log(store, monkeypatch):
    from kinetic.client import log_reader as logs

    monkeypatch.setattr(logs, "TAIL_READ", 100)  # a "long" log is a few hundred bytes here
    prefix = "jobs/a/logs"
    text = "".join(f"line {i}\n" for i in range(300)).encode()
    store.append_log(prefix, 0, text)
    assert logs.tail(store, "a", 3) == "line 297\nline 298\nline 299\n"
    assert logs.tail(store, "a", 50).splitlines()[0] == "line 250"  # reads back further
    assert logs.tail(store, "a", 1000) == text.decode()


def test_logs_follow_pattern(store):
    """A follower polls with the offset it got back; writes in between appear once."""
    prefix = "jobs/a/logs"
    seen, offset = b"", 0
    sent = b""
    for i in range(12):
        line = f"step {i}\n".encode() * (i % 3 + 1)
        store.append_log(prefix, len(sent), line)
        sent += line
        if i % 2:
            data, offset = store.read_log(prefix, offset)
            seen += data
    data, offset = store.read_log(prefix, offset)
    seen += data
    assert seen == sent and offset == len(sent)
    # A second reader that reconnects mid-log (a fresh cursor) gets exactly the rest.
    other = open_store(store.uri)
    assert other.read_log(prefix, 25) == (sent[25:], len(sent))


def test_logsink_chunks_read_back(store):
    sink = LogSink(store, "jobs/a/logs", interval=0.05)
    lines = [f"message {i}\n".encode() for i in range(200)]
    for line in lines:
        sink.write(line)
    sink.close()
    assert store.read_log("jobs/a/logs")[0] == b"".join(lines)


def test_logs_deleted_with_prefix(store):
    store.append_log("jobs/a/logs", 0, b"hello\n")
    assert store.read_log("jobs/a/logs")[0] == b"hello\n"
    store.delete_prefix("jobs/a")
    assert store.read_log("jobs/a/logs") == (b"", 0)


# -- outputs and framed records ----------------------------------------------------------------
def test_outputs_listing_and_download(store, tmp_path):
    src = tmp_path / "out"
    (src / "model").mkdir(parents=True)
    (src / "model" / "weights.bin").write_bytes(os.urandom(50_000))
    (src / "metrics.json").write_text('{"loss": 0.1}')
    assert upload_dir(store, "job-1", src) == 2
    assert list_outputs(store, "job-1") == ["metrics.json", "model/weights.bin"]
    written = download(store, "job-1", tmp_path / "back")
    assert sorted(p.relative_to(tmp_path / "back").as_posix() for p in written) == [
        "metrics.json",
        "model/weights.bin",
    ]
    assert (tmp_path / "back/model/weights.bin").read_bytes() == (
        src / "model" / "weights.bin"
    ).read_bytes()


def test_framed_record_round_trip_and_refusal(store):
    value = {"weights": os.urandom(100_000), "epoch": 3}
    digest = store_framed(store, "jobs/a/result.pkl", frame(value))
    assert load_framed(store, "jobs/a/result.pkl", digest.sha256) == value
    with pytest.raises(JobExistsError):
        store_framed(store, "jobs/a/result.pkl", frame("other"))
    # A truncated record (what a half-finished write would be) is refused, never unpickled.
    whole = store.read_bytes("jobs/a/result.pkl")
    store.write_bytes("jobs/a/truncated.pkl", whole[: len(whole) // 2])
    with pytest.raises(IntegrityError):
        load_framed(store, "jobs/a/truncated.pkl")


# -- kinetic doctor ---------------------------------------------------------------------------
def test_doctor_checks_the_store_end_to_end(store_uri):
    from kinetic.client.doctor import check_store

    checks = check_store(store_uri)
    assert [c.name for c in checks] == ["store URI", "write", "read", "list", "logs", "delete"]
    assert all(c.ok for c in checks), checks
    assert open_store(store_uri).list("_kinetic_doctor") == []  # the probe is gone
