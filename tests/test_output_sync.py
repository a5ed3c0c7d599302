"""Outputs kept while a job runs (output_sync) and resumed by the next attempt: a runner
SIGKILLed, a job OOM-killed, a job resumed from another; never a half-written file."""

from __future__ import annotations

import json
import os
import signal
import time

import jobfns
import pytest
from helpers import wait_for

import kinetic
from kinetic.job.open_files import worker_running
from kinetic.job.output_sync import FileStat, OutputSync, due, send
from kinetic.job.restore import sources
from kinetic.store import layout, open_store

STEPS = 30
TOTAL = sum(range(STEPS))  # what an uninterrupted run returns


# -- the decisions (pure) -------------------------------------------------------------------
def test_only_changed_quiet_files_are_due():
    s = FileStat(10, 1_000_000_000, 7)
    observed = {"a": s, "b": FileStat(5, 9_500_000_000, 8), "c": s}
    stored = {"c": s}
    # b changed 0.5 s ago: still settling; c is stored as it is.
    assert due(observed, stored, now_ns=10_000_000_000, settle=1.0) == ["a"]
    assert due(observed, stored, now_ns=10_000_000_000, settle=0.0) == ["a", "b"]
    assert due(observed, stored, now_ns=10_000_000_000, settle=0.0, skip=["a"]) == ["b"]


def test_resume_layers():
    assert sources({}, "j", 1) == []
    # An attempt's own outputs too: the same attempt may run again (a replaced pod).
    assert sources({"retries": 2}, "j", 3) == [("j", 1), ("j", 2), ("j", 3)]
    assert sources({"retries": 2, "resume": False}, "j", 3) == []
    assert sources({"resume_from": "old"}, "j", 1) == [("old", 0)]
    assert sources({"resume_from": "old", "retries": 1}, "j", 2) == [
        ("old", 0), ("j", 1), ("j", 2)]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "named"),
    [({"output_sync": 0}, "output_sync"), ({"output_sync": "10"}, "output_sync"),
     ({"resume": "yes"}, "resume"), ({"resume_from": "Not/A/Job"}, "resume_from"),
     ({"resume": True, "upload": False}, "upload")],
)  # fmt: skip
def test_bad_options_are_refused(options, named):
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    assert info.value.option == named


def test_a_file_changing_while_sent_is_not_stored(tmp_path):
    store = open_store((tmp_path / "store").as_uri())
    path = tmp_path / "f"
    path.write_bytes(b"complete")
    send(store, "k", path)

    class Growing:  # the store reads the file while its writer appends to it
        def __init__(self):
            self.f = path.open("ab")

        def write(self):
            self.f.write(b" and more")
            self.f.flush()

    writer = Growing()
    original = os.fstat

    def fstat_after_write(fd):
        writer.write()
        return original(fd)

    os.fstat = fstat_after_write  # a change lands between the read and the check
    try:
        with pytest.raises(Exception, match="changed"):
            send(store, "k", path)
    finally:
        os.fstat = original
    assert store.read_bytes("k") == b"complete"


# -- real jobs -----------------------------------------------------------------------------
def _stored_step(store, job_id, attempt=1):
    key = f"{layout.output_prefix(job_id, attempt)}/ckpt.json"
    if not store.exists(key):
        return 0
    return json.loads(store.read_bytes(key))["step"]  # never a truncated file


def _polled_step(store, job_id):
    """While the job writes: the emulator's filesystem backend replaces an object in place,
    so a read racing a write may see it empty (the store's own reads after the kill, and
    the file store's, are exact: asserted there)."""
    try:
        return _stored_step(store, job_id)
    except json.JSONDecodeError:
        return 0


def _last_line(path):
    return path.read_text().splitlines()[-1] if path.exists() else ""


def test_a_sigkilled_runner_resumes_from_the_last_sync(store_uri, tmp_path):
    progress = tmp_path / "progress"
    job = kinetic.run(retries=1, retry_backoff=0.2, output_sync=1)(jobfns.checkpointing).run_async(
        STEPS, 0.3, str(progress)
    )
    store = open_store(job.store)
    wait_for(lambda: _polled_step(store, job.job_id) >= 5, timeout=90,
             what="a checkpoint in the store")  # fmt: skip
    # Kill in the middle of a checkpoint's write: its half must never be stored.
    wait_for(lambda: _last_line(progress).startswith("writing"), timeout=30, interval=0.005)
    runner = json.loads(store.read_bytes(layout.launch_key(job.job_id)))
    os.kill(runner["pid"], signal.SIGKILL)
    killed_at = int(_last_line(progress).split()[1])
    wait_for(lambda: not worker_running(runner["pid"]), timeout=10, what="the runner's end")
    synced = _stored_step(store, job.job_id)  # parses: a complete version
    assert synced >= 5
    start, total = job.result(timeout=120, cleanup=False)
    assert total == TOTAL  # as an uninterrupted run
    assert start >= synced  # resumed from the last synced checkpoint
    assert killed_at - start <= 1 / 0.3 * 3  # steps redone: about one interval's worth
    state = job.state()
    assert state.attempts == 2 and state.previous_attempts[0]["reason"] == "Lost"
    assert "resuming: 1 output file(s) restored" in job.logs()
    # Each attempt's outputs stay apart.
    assert job.outputs(attempt=1) == ["ckpt.json"] and job.outputs(attempt=2) == ["ckpt.json"]


def test_an_oom_killed_attempt_resumes_and_keeps_no_torn_file(tmp_path):
    progress = tmp_path / "progress"
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=0.2, output_sync=2,
                      memory="200Mi")(jobfns.checkpointing).run_async(
        12, 0.4, str(progress), hog_at=8)  # fmt: skip
    start, total = job.result(timeout=120, cleanup=False)
    assert total == sum(range(12))
    state = job.state()
    assert state.previous_attempts[0]["reason"] == "OOMKilled"
    store = open_store(job.store)
    # Step 8's checkpoint was half-written when the job was killed: attempt 1 keeps step 7's
    # (or an earlier one's), complete.
    assert 1 <= _stored_step(store, job.job_id, 1) <= 7
    assert start == _stored_step(store, job.job_id, 1)
    assert "being written when the job was stopped: ckpt.json" in job.logs(attempt=1)


def test_a_cancelled_job_keeps_its_outputs_and_resume_from_continues(store_uri, tmp_path):
    progress = tmp_path / "progress"
    first = kinetic.run(output_sync=1)(jobfns.checkpointing).run_async(
        STEPS, 0.2, str(progress))  # fmt: skip
    store = open_store(first.store)
    wait_for(lambda: _polled_step(store, first.job_id) >= 3, timeout=90, what="a checkpoint")
    first.cancel()
    stopped_at = _stored_step(store, first.job_id)
    assert stopped_at >= 3
    second = kinetic.run(resume_from=first.job_id)(jobfns.checkpointing)
    start, total = second(STEPS, 0.0, str(progress))
    assert start == stopped_at and total == TOTAL


def test_cli_retry_resume_from_continues_a_cancelled_job(store_uri, tmp_path):
    """`kinetic jobs retry ID --resume-from ID`: the retry (a new job from the stored
    payload) starts from the outputs the cancelled job synced, not from nothing."""
    import subprocess
    import sys

    progress = tmp_path / "progress"
    first = kinetic.run(output_sync=1)(jobfns.checkpointing).run_async(
        STEPS, 0.2, str(progress))  # fmt: skip
    store = open_store(first.store)
    wait_for(lambda: _polled_step(store, first.job_id) >= 3, timeout=90, what="a checkpoint")
    first.cancel()
    stopped_at = _stored_step(store, first.job_id)
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "retry", first.job_id,
         "--resume-from", first.job_id, "-o", "json"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["overrides"] == {"resume_from": first.job_id}
    second = kinetic.attach(answer["job_id"])
    assert second.spec["resume_from"] == first.job_id
    start, total = second.result(timeout=120, cleanup=False)
    assert start == stopped_at >= 3 and total == TOTAL
    assert "resuming: 1 output file(s) restored" in second.logs()


@pytest.mark.parametrize("interrupted", [True, False])
def test_a_file_changed_after_the_stop_signal(store_uri, tmp_path, interrupted):
    """The race a stop can land in: the job opens (truncates) its checkpoint just after
    the runner looked at its open files, and the interruption closes it before it is
    written. An interrupted job's file changed since the signal keeps its last synced
    version; a job that stops by itself keeps what it saved on its way out."""
    store = open_store(store_uri)
    out = tmp_path / "out"
    out.mkdir()
    ckpt = out / "ckpt.json"
    ckpt.write_text('{"step": 3}')
    sync = OutputSync(store, "job-1", 1, out, 1.0, lambda text: None, writing=set)
    assert sync.sync_once(0.0) == 1
    sync.mark_torn()  # the stop signal: nothing is open for writing
    ckpt.write_text("" if interrupted else '{"step": 4}')
    since = sync.signalled_ns[0] if interrupted else None
    assert sync.finish(changed_since=since) is None
    stored = store.read_bytes(f"{layout.output_prefix('job-1', 1)}/ckpt.json")
    assert stored == (b'{"step": 3}' if interrupted else b'{"step": 4}')


def test_output_sync_none_copies_once_at_the_end(store_uri, tmp_path):
    job = kinetic.run(output_sync=None)(jobfns.checkpointing).run_async(
        4, 0.2, str(tmp_path / "p"))  # fmt: skip
    store = open_store(job.store)
    assert job.result(timeout=60, cleanup=False) == (0, sum(range(4)))
    assert _stored_step(store, job.job_id) == 4
    assert time.time()  # nothing else to wait for


def test_cli_resume_from_and_spot_on_the_local_backend(tmp_path):
    import subprocess
    import sys

    write = "import kinetic; (kinetic.output_dir() / 'n.txt').write_text('41')"
    first = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "submit", "--spot", "--follow", "--",
         sys.executable, "-c", write],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "spot requested: ignored by the local backend" in first.stdout
    (handle,) = kinetic.list_jobs()
    first_id = handle.job_id
    read = ("import kinetic; n = int((kinetic.output_dir() / 'n.txt').read_text()); "
            "print('resumed at', n + 1)")  # fmt: skip
    second = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "submit", "--resume-from", first_id,
         "--follow", "--", sys.executable, "-c", read],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "resumed at 42" in second.stdout, second.stdout + second.stderr
