"""A store that fills up or turns read-only mid-job (a tmpfs of 1 MiB as the file://
store; needs root to mount it, skipped otherwise): the job keeps running, its output is
kept in a bounded buffer and written when the store takes writes again, and if it never
does the job still ends with an honest reason (StoreUnavailable, naming the path and
errno) and its output kept as evidence.

Each test runs with both faults: the file system full (ENOSPC, a filler file written
until the kernel refuses) and the file system read-only (EROFS, the tmpfs remounted
``ro`` by ``mount -o remount,ro``, as a disk the kernel turns read-only after an error).
"""

from __future__ import annotations

import errno
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import jobfns
import pytest
from helpers import unavailable, wait_for, wait_log

import kinetic
from kinetic import JobStatus
from kinetic.backends.local import runner_stderr_path


@pytest.fixture
def small_store(tmp_path, monkeypatch):
    root = tmp_path / "small-store"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    monkeypatch.setenv("KINETIC_STORE", root.as_uri())
    monkeypatch.setenv("KINETIC_STORE_PATIENCE", "3")  # how long the runner insists
    yield root
    subprocess.run(["umount", "-l", str(root)], check=False)


def fill(root: Path) -> None:
    """Write until the file system is full."""
    with open(root / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def unfill(root: Path) -> None:
    (root / "filler").unlink()


def remount(root: Path, mode: str) -> None:
    """Remount the tmpfs ``ro`` or ``rw``. The kernel refuses ``ro`` (EBUSY) while a file
    on it is open for writing; the store opens its files only for each write, so a retry
    finds a moment between two."""

    def done() -> bool:
        run = subprocess.run(["mount", "-o", f"remount,{mode}", str(root)], capture_output=True)
        return run.returncode == 0

    wait_for(done, timeout=30, what=f"remounting {root} {mode}")


@dataclass(frozen=True)
class Fault:
    name: str
    errno_name: str  # what the store's refusals must name

    def inject(self, root: Path) -> None:
        fill(root) if self.name == "full" else remount(root, "ro")

    def clear(self, root: Path) -> None:
        unfill(root) if self.name == "full" else remount(root, "rw")


FAULTS = [Fault("full", "ENOSPC"), Fault("read-only", "EROFS")]


@pytest.fixture(params=FAULTS, ids=[f.name for f in FAULTS])
def fault(request) -> Fault:
    return request.param


def test_store_full_then_back_loses_nothing(small_store, tmp_path, fault):
    go, finish = tmp_path / "go", tmp_path / "finish"
    job = kinetic.run()(jobfns.lines_then_wait).run_async(str(go), str(finish), width=1000)
    wait_log(job, "line 19")
    fault.inject(small_store)
    go.touch()  # 20 lines printed while the store refuses writes
    err = runner_stderr_path(job.job_id)
    wait_for(lambda: "cannot write the job's log" in err.read_text(), what="the store refusing")
    assert fault.errno_name in err.read_text()
    time.sleep(1)  # let it print the rest meanwhile
    fault.clear(small_store)
    finish.touch()
    assert job.result(timeout=60, cleanup=False) == "done"
    text = job.logs()
    assert all(f"line {i}\n" in text for i in range(40)), text


def test_store_full_for_good_gives_an_honest_record(small_store, tmp_path, fault):
    go = tmp_path / "go"
    job = kinetic.run()(jobfns.lines_then_wait).run_async(str(go), width=1000)
    wait_log(job, "line 19")
    fault.inject(small_store)
    go.touch()
    state = job.wait(60)  # never raises a raw OSError, never hangs
    assert state.status == JobStatus.FAILED and state.reason == "StoreUnavailable", state
    assert fault.errno_name in state.message and str(small_store) in state.message, state.message
    assert "bytes of its output were never stored" in state.message
    # What the store refused is kept on this machine, with the runner's last words: every
    # line is in the log or there.
    evidence = job.logs() + runner_stderr_path(job.job_id).read_text()
    assert all(f"line {i}\n" in evidence for i in range(40))
    assert "line 39\n" in runner_stderr_path(job.job_id).read_text()
    fault.clear(small_store)
    assert job.state().reason == "StoreUnavailable"  # and now recorded in the store too
    assert b"StoreUnavailable" in job._store.read_bytes(f"jobs/{job.job_id}/state.json")


def test_log_says_how_much_output_was_dropped(small_store, fault):
    from kinetic.store import open_store
    from kinetic.store.logsink import LogSink

    store = open_store(small_store.as_uri())
    sink = LogSink(store, "jobs/j/logs", max_buffer=10_000)
    sink.write(b"before\n")
    fault.inject(small_store)
    for i in range(50):
        sink.write(f"{i:0999d}\n".encode())  # 50 KB while the store refuses writes
    assert sink.error is not None and fault.errno_name in str(sink.error)
    fault.clear(small_store)
    assert sink.close(patience=10)
    text = store.read_log("jobs/j/logs")[0].decode()
    # (When full, a few lines may fit in the log file's last page before the store refuses.)
    assert sink.dropped >= 30_000
    assert f"[kinetic] {sink.dropped} bytes of output were dropped here" in text
    assert text.endswith(f"{49:0999d}\n") and f"{40:0999d}\n" in text
