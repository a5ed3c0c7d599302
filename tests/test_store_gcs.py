"""The gs:// store beyond the shared contract: URIs, setup errors, retries through injected
faults, large transfers, the progress bar, log reads, and a job end to end in a bucket."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time

import pytest

import kinetic
from kinetic.model.errors import JobExistsError, SpecError, StorageError
from kinetic.store import normalize_uri, open_store
from kinetic.store.gcs import GCSStore, parse_gs_uri
from kinetic.store.gcs_errors import GCSSettings
from kinetic.wire.framing import frame, load_framed, store_framed

pytestmark = pytest.mark.gcs
MB = 1000 * 1000


@pytest.fixture
def proxied(gcs_store_uri, gcs_fault_proxy):
    """A store that talks to the emulator through the fault proxy, with fast retries."""
    settings = GCSSettings(endpoint=gcs_fault_proxy.url, initial=0.01, maximum=0.2, deadline=15)
    return GCSStore(gcs_store_uri, settings=settings), gcs_fault_proxy


def object_requests(proxy, fault=None):
    """Requests for objects (the library also fetches bucket metadata in the background)."""
    return [(m, p) for m, p, f in proxy.log if "/o" in p and (fault is None or f == fault)]


# -- URIs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri, expected",
    [
        ("gs://my-bucket", ("my-bucket", "")),
        ("gs://my-bucket/", ("my-bucket", "")),
        ("gs://my_bucket.example.com/a/b/", ("my_bucket.example.com", "a/b")),
        ("  gs://b12/kinetic ", ("b12", "kinetic")),
    ],
)
def test_parse_gs_uri(uri, expected):
    assert parse_gs_uri(uri) == expected


def test_normalize_gs_uri():
    assert normalize_uri("gs://my-bucket/some/prefix/") == "gs://my-bucket/some/prefix"
    assert normalize_uri("gs://my-bucket") == "gs://my-bucket"


@pytest.mark.parametrize(
    "uri, why",
    [
        ("gs://", "no bucket"),
        ("gs:///x", "no bucket"),
        ("gs:bucket/x", "gs://BUCKET"),
        ("gs://My-Bucket", "uppercase"),
        ("gs://ab", "3-63"),
        ("gs://" + "a" * 64, "3-63"),
        ("gs://-bucket", "start and end"),
        ("gs://bucket-", "start and end"),
        ("gs://buck$et", "may only contain"),
        ("gs://a..b", "empty"),
        ("gs://192.168.1.10", "IP address"),
        ("gs://goog-data", "goog"),
        ("gs://my-google-data", "google"),
        ("gs://bucket/a//b", "empty, '.' or '..'"),
        ("gs://bucket/a/../b", "empty, '.' or '..'"),
        ("gs://bucket/a?b", "control characters"),
    ],
)
def test_malformed_uris(uri, why):
    with pytest.raises(SpecError, match="store") as info:
        parse_gs_uri(uri)
    assert why in str(info.value)
    with pytest.raises(SpecError):
        open_store(uri)


# -- setup errors -----------------------------------------------------------------------------
def test_missing_bucket_says_how_to_create_it(gcs_emulator):
    store = GCSStore("gs://kinetic-no-such-bucket/jobs", settings=GCSSettings(deadline=5))
    for action in (
        lambda: store.read_bytes("jobs/x/handle.json"),
        lambda: store.write_bytes("jobs/x/handle.json", b"{}", if_absent=True),
        lambda: store.exists("jobs/x/handle.json"),
        lambda: store.list_children("jobs"),
        lambda: store.download("jobs/x/result.pkl", io.BytesIO()),
    ):
        with pytest.raises(StorageError) as info:
            action()
        message = str(info.value)
        assert "'kinetic-no-such-bucket' does not exist" in message
        assert "gcloud storage buckets create gs://kinetic-no-such-bucket" in message


def test_no_credentials_says_how_to_log_in(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    store = GCSStore("gs://kinetic-creds-test/x")  # creating it touches nothing
    with pytest.raises(StorageError) as info:
        store.exists("k")
    message = str(info.value)
    assert "no Google Cloud credentials" in message
    assert "gcloud auth application-default login" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message


def test_access_denied_names_principal_and_role(proxied):
    store, proxy = proxied
    store.write_bytes("k", b"v")
    text = "ci@proj.iam.gserviceaccount.com does not have storage.objects.get access to it."
    body = json.dumps({"error": {"code": 403, "message": text}}).encode()
    proxy.fail(1, status=403, body=body, path="/o/")
    with pytest.raises(StorageError) as info:
        store.read_bytes("k")
    message = str(info.value)
    assert "access denied" in message and "/kinetic/k" in message
    assert "ci@proj.iam.gserviceaccount.com" in message and "storage.objects.get" in message
    assert "roles/storage.objectAdmin" in message


def test_rejected_or_expired_credentials():
    # Against the emulator every request is anonymous, so the mapping is checked directly.
    from google.api_core.exceptions import Unauthorized
    from google.auth.exceptions import RefreshError

    from kinetic.store.gcs_errors import translate

    rejected = translate(Unauthorized("Invalid Credentials"), "read", "gs://b/k")
    assert "credentials were rejected" in str(rejected) and "gs://b/k" in str(rejected)
    assert "gcloud auth application-default login" in str(rejected)
    expired = translate(RefreshError("invalid_grant: token expired"), "read", "gs://b/k")
    assert "could not be refreshed" in str(expired)
    assert "gcloud auth application-default login" in str(expired)


def test_client_is_lazy_and_reused(gcs_store_uri):
    store = GCSStore(gcs_store_uri)
    assert store._bucket is None  # nothing connects until the first request
    store.write_bytes("a", b"1")
    client = store.bucket.client
    store.read_bytes("a")
    assert store.bucket.client is client
    assert open_store(gcs_store_uri) is open_store(gcs_store_uri + "/")


# -- transient failures -----------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(proxied, status):
    store, proxy = proxied
    proxy.fail(3, status=status, path="/o")
    store.write_bytes("jobs/a/handle.json", b"{}", if_absent=True)
    proxy.fail(2, status=status, path="/o")
    assert store.read_bytes("jobs/a/handle.json") == b"{}"
    proxy.fail(2, status=status, path="/o")
    assert [o.key for o in store.list("jobs")] == ["jobs/a/handle.json"]
    assert len(object_requests(proxy, "status")) == 7


def test_connection_resets_are_retried(proxied):
    store, proxy = proxied
    proxy.reset(2, path="/o")
    store.write_bytes("k", b"value", if_absent=True)
    proxy.reset(2, path="/o")
    assert store.read_bytes("k") == b"value"
    proxy.reset(1, path="/o")
    assert store.exists("k")
    assert len(object_requests(proxy, "reset")) == 5


def test_slow_responses(gcs_store_uri, gcs_fault_proxy):
    settings = GCSSettings(endpoint=gcs_fault_proxy.url, initial=0.01, deadline=15, timeout=0.5)
    store = GCSStore(gcs_store_uri, settings=settings)
    gcs_fault_proxy.delay(1, 0.2, path="/o")  # slow but within the timeout: one request
    store.write_bytes("a", b"1")
    gcs_fault_proxy.delay(1, 1.5, method="GET", path="/o")  # past the timeout: retried
    started = time.monotonic()
    assert store.read_bytes("a") == b"1"
    assert time.monotonic() - started < 1.5
    assert len([r for r in object_requests(gcs_fault_proxy) if r[0] == "GET"]) == 2


def test_retried_write_whose_first_attempt_landed_is_not_a_collision(proxied):
    store, proxy = proxied
    proxy.drop(1, method="POST", path="/o")  # stored upstream, response lost, then 412
    store.write_bytes("jobs/a/handle.json", b'{"id": "a"}', if_absent=True)
    assert store.read_bytes("jobs/a/handle.json") == b'{"id": "a"}'
    assert len(object_requests(proxy, "drop")) == 1
    # A real collision stays a collision, retried or not.
    proxy.drop(1, method="POST", path="/o")
    with pytest.raises(JobExistsError):
        store.write_bytes("jobs/a/handle.json", b'{"id": "b"}', if_absent=True)
    assert store.read_bytes("jobs/a/handle.json") == b'{"id": "a"}'


def test_exhausted_retries_name_the_object(gcs_store_uri, gcs_fault_proxy):
    settings = GCSSettings(endpoint=gcs_fault_proxy.url, initial=0.05, maximum=0.2, deadline=1.5)
    store = GCSStore(gcs_store_uri, settings=settings)
    gcs_fault_proxy.fail(10_000, path="/o")
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        store.write_bytes("jobs/a/result.pkl", b"x", if_absent=True)
    assert time.monotonic() - started < 5  # bounded by the deadline, not forever
    message = str(info.value)
    assert f"{gcs_store_uri}/jobs/a/result.pkl" in message
    assert "1.5s" in message and "HTTP 503" in message
    gcs_fault_proxy.clear()
    assert not store.exists("jobs/a/result.pkl")  # nothing half-written


def test_deadline_from_environment(monkeypatch, gcs_store_uri):
    monkeypatch.setenv("KINETIC_GCS_RETRY_DEADLINE", "2.5")
    monkeypatch.setenv("KINETIC_GCS_CHUNK_MB", "8")
    store = GCSStore(gcs_store_uri)
    assert store.settings.deadline == 2.5 and store.settings.chunk_size == 8 * 1024 * 1024


# -- large transfers ---------------------------------------------------------------------------
def test_large_round_trip_digest(gcs_store_uri):
    data = os.urandom(21 * MB)
    store = open_store(gcs_store_uri)
    digest = store.upload("jobs/a/payload.pkl", io.BytesIO(data), if_absent=True)
    assert digest.sha256 == hashlib.sha256(data).hexdigest() and digest.size == len(data)
    out = io.BytesIO()
    assert store.download("jobs/a/payload.pkl", out) == digest
    assert out.getvalue() == data
    value = {"blob": data[: 12 * MB]}  # a framed record over the single-request size
    sha = store_framed(store, "jobs/a/result.pkl", frame(value)).sha256
    assert load_framed(store, "jobs/a/result.pkl", sha) == value


def test_large_transfers_survive_faults(proxied):
    store, proxy = proxied
    store.settings = GCSSettings(**{**store.settings.__dict__, "chunk_size": 4 * 1024 * 1024})
    data = os.urandom(21 * MB)
    # Chunks of a resumable upload: a 503, then a reset, are retried chunk by chunk.
    proxy.fail(1, method="PUT", path="upload_id")
    proxy.reset(1, method="PUT", path="upload_id")
    digest = store.upload("big.bin", io.BytesIO(data))
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert len(object_requests(proxy, "status")) == 1
    assert len(object_requests(proxy, "reset")) == 1
    # A download cut off mid-body resumes from where it stopped (a Range request).
    proxy.clear()
    proxy.reset(1, after_bytes=5 * MB, method="GET", path="/download/")
    out = io.BytesIO()
    assert store.download("big.bin", out) == digest
    assert out.getvalue() == data
    assert len([r for r in object_requests(proxy) if "/download/" in r[1]]) == 2


def test_failed_large_upload_leaves_nothing(gcs_store_uri, gcs_fault_proxy):
    settings = GCSSettings(
        endpoint=gcs_fault_proxy.url,
        initial=0.02,
        maximum=0.1,
        deadline=1.0,
        chunk_size=4 * 1024 * 1024,
    )
    store = GCSStore(gcs_store_uri, settings=settings)
    framed = frame({"blob": os.urandom(12 * MB)})
    # The first chunks go up; the last never makes it.
    gcs_fault_proxy.fail(10_000, method="PUT", path="upload_id", skip=2)
    with pytest.raises(StorageError, match=r"result\.pkl"):
        store_framed(store, "jobs/a/result.pkl", framed)
    puts = [r for r in gcs_fault_proxy.log if r[0] == "PUT"]
    assert [f for _, _, f in puts[:3]] == [None, None, "status"]  # failed on the last chunk
    gcs_fault_proxy.clear()
    assert not store.exists("jobs/a/result.pkl")
    assert store.list("jobs") == []


# -- logs ------------------------------------------------------------------------------------
def test_log_polls_list_only_new_chunks(proxied):
    store, proxy = proxied
    for i in range(5):
        store.append_log("jobs/a/logs", i * 6, f"line{i}\n".encode())
    data, offset = store.read_log("jobs/a/logs")
    assert data.count(b"\n") == 5
    proxy.clear()
    assert store.read_log("jobs/a/logs", offset) == (b"", offset)  # nothing new: one listing
    store.append_log("jobs/a/logs", offset, b"more\n")
    proxy.clear()
    assert store.read_log("jobs/a/logs", offset) == (b"more\n", offset + 5)
    requests = object_requests(proxy)
    assert len(requests) == 2  # one listing from the known end, one new chunk
    assert "startOffset=" in requests[0][1] and "alt=media" in requests[1][1]


def test_log_append_retry_writes_only_what_is_new(proxied):
    store, proxy = proxied
    # A flush that landed although its response was lost is recognised on retry.
    proxy.drop(1, method="POST", path="/o")
    store.append_log("jobs/a/logs", 0, b"one\n")
    # A writer that thought a flush failed retries it with more data at the same offset.
    store.append_log("jobs/a/logs", 0, b"one\ntwo\n")
    assert store.read_log("jobs/a/logs") == (b"one\ntwo\n", 8)
    with pytest.raises(StorageError, match="two writers"):
        store.append_log("jobs/a/logs", 0, b"other\n")


# -- progress bar ---------------------------------------------------------------------------
PROGRESS_SCRIPT = textwrap.dedent(
    """
    import io, os, sys
    from kinetic.store import open_store
    store = open_store(sys.argv[1])
    store.upload("small.bin", io.BytesIO(os.urandom(2_000_000)))
    store.download("small.bin", io.BytesIO())
    print("SMALL-DONE", file=sys.stderr, flush=True)
    store.upload("big.bin", io.BytesIO(os.urandom(12_000_000)))
    store.download("big.bin", io.BytesIO())
    """
)


def run_with_stderr(uri: str, tty: bool) -> str:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    args = [sys.executable, "-c", PROGRESS_SCRIPT, uri]
    if not tty:
        done = subprocess.run(args, env=env, capture_output=True, timeout=120, check=True)
        return done.stderr.decode()
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return output.decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_only_for_big_transfers(gcs_store_uri):
    on_tty = run_with_stderr(gcs_store_uri, tty=True)
    small, _, big = on_tty.partition("SMALL-DONE")
    assert "upload" not in small and "download" not in small  # 2 MB: no bar
    assert "upload big.bin" in big and "download big.bin" in big
    assert run_with_stderr(gcs_store_uri, tty=False) == "SMALL-DONE\n"  # piped: never


# -- a job end to end in a bucket -----------------------------------------------------------
def chatty(n):
    import time as _time

    for i in range(n):
        print(f"tick {i}", flush=True)
        _time.sleep(0.05)
    return {"ticks": n}


ATTACH_SCRIPT = textwrap.dedent(
    """
    import json, sys, kinetic
    handle = kinetic.attach(sys.argv[1], store=sys.argv[2])
    lines = list(handle.stream_logs())
    print(json.dumps({"lines": lines, "result": handle.result(cleanup=False)}))
    """
)


def test_local_job_with_gcs_store_attached_from_elsewhere(gcs_store_uri, tmp_path):
    job = kinetic.run(store=gcs_store_uri)(chatty).run_async(20)
    assert job.store == gcs_store_uri
    # Another process, with empty local state, finds the job through the bucket alone.
    env = {**os.environ, "KINETIC_HOME": str(tmp_path / "elsewhere")}
    done = subprocess.run(
        [sys.executable, "-c", ATTACH_SCRIPT, job.job_id, gcs_store_uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["result"] == {"ticks": 20}
    ticks = [line for line in seen["lines"] if line.startswith("tick")]
    assert ticks == [f"tick {i}\n" for i in range(20)]  # none lost, none repeated
    store = open_store(gcs_store_uri)
    assert store.exists(f"jobs/{job.job_id}/result.pkl")
    assert job.result() == {"ticks": 20}
    assert not store.list(f"jobs/{job.job_id}")  # cleaned up from the bucket


def test_doctor_reports_setup_problems(gcs_emulator):
    from kinetic.client.doctor import check_store

    checks = check_store("gs://kinetic-doctor-missing/x")
    assert checks[0].ok and not checks[1].ok
    assert "gcloud storage buckets create gs://kinetic-doctor-missing" in checks[1].detail
    assert [c.detail for c in checks[2:]] == ["skipped: write failed"] * 4
    bad = check_store("gs:///nope")
    assert [(c.name, c.ok) for c in bad] == [("store URI", False)]
    assert "no bucket" in bad[0].detail
