"""The promises of docs/reliability.md, held with real runner processes on both stores:
cancel interrupts ordinary code at once, a cancel at any moment after submission ends
CANCELLED, an exception of any size ends the job, nothing a job started outlives it, and a
store that refuses writes mid-job still gives the job an honest terminal record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jobfns
import pytest
from helpers import wait_for, wait_log, wait_status

import kinetic
from kinetic import JobStatus
from kinetic.system.sweep import session_members

TESTS = Path(__file__).parent


def _launch(job) -> dict:
    return json.loads(job._store.read_bytes(f"jobs/{job.job_id}/launch.json"))


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# -- cancel stops ordinary code at once -------------------------------------------------------
def test_cancel_interrupts_a_plain_loop(store_uri):
    job = kinetic.run(grace_period=30)(jobfns.ticker).run_async(600)
    wait_log(job, "tick 2")
    started = time.monotonic()
    state = job.cancel()
    elapsed = time.monotonic() - started
    assert state.status == JobStatus.CANCELLED and state.reason == "Cancelled"
    assert elapsed < 10, elapsed  # interrupted, not killed after the 30 s grace period
    text = job.logs()
    assert "finally ran" in text and "killing it" not in text
    with pytest.raises(kinetic.JobCancelledError):
        job.result()


def test_timeout_interrupts_too_and_is_no_keyboard_interrupt_here(store_uri):
    job = kinetic.run(timeout=1, grace_period=30)(jobfns.ticker).run_async(600)
    state = job.wait(25)  # well under the grace period: interrupted, not killed
    assert state.status == JobStatus.FAILED and state.reason == "DeadlineExceeded"
    with pytest.raises(kinetic.JobFailedError, match="DeadlineExceeded"):
        job.result()
    assert "finally ran" in job.logs()


def test_cancel_after_success_keeps_the_result(store_uri):
    job = kinetic.run()(jobfns.add).run_async(1, 2)
    wait_status(job, JobStatus.SUCCEEDED)
    assert job.cancel().status == JobStatus.SUCCEEDED
    assert job.result() == 3


def test_ctrl_c_on_the_blocking_call_cancels_and_raises(store_uri, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import jobfns, kinetic
        kinetic.run(grace_period=30)(jobfns.ticker)(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = ""
    while "tick 2" not in line:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err and "CANCELLED" in err, err
    job_id = err.split("cancelling job ")[1].split("…")[0]
    job = kinetic.attach(job_id)
    assert job.state().status == JobStatus.CANCELLED
    assert "finally ran" in job.logs()


def test_cli_cancel_says_what_it_is_waiting_for(store_uri, python_env):
    job = kinetic.run(grace_period=30)(jobfns.ticker).run_async(600)
    wait_log(job, "tick 1")
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "cancel", job.job_id],
        capture_output=True, text=True, env=python_env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "interrupting it" in out.stderr and "grace period of 30s" in out.stderr
    assert "CANCELLED" in out.stdout


# -- a cancel at any moment after submission ---------------------------------------------------
@pytest.mark.parametrize("delay_ms", [0, 1, 10, 100, 500])
def test_cancel_right_after_run_async(store_uri, delay_ms):
    job = kinetic.run(retries=2, grace_period=30)(jobfns.ticker).run_async(600)
    time.sleep(delay_ms / 1000)
    state = job.cancel()
    assert state.status == JobStatus.CANCELLED, state
    assert state.reason == "Cancelled"
    assert not [r for r in state.previous_attempts if r.get("reason") == "Lost"], state
    assert job.state().status == JobStatus.CANCELLED  # and it stays so: nothing relaunched


# -- an exception of any size -------------------------------------------------------------------
def test_huge_exception_message_ends_the_job(store_uri):
    job = kinetic.run()(jobfns.huge_error).run_async(200_000)
    state = job.wait(60)
    assert state.status == JobStatus.FAILED and state.reason == "UserError"
    assert len(state.message) < 5000 and "more characters" in state.message
    with pytest.raises(ValueError) as info:
        job.result()
    assert str(info.value) == "x" * 200_000


# -- nothing a job started outlives it ---------------------------------------------------------
def test_children_of_a_killed_runner_are_ended(store_uri):
    job = kinetic.run()(jobfns.spawn_child).run_async(300)
    wait_log(job, "child ")
    child = int(job.logs().split("child ")[1].split()[0])
    runner = _launch(job)
    os.kill(runner["pid"], signal.SIGKILL)
    state = wait_for(lambda: (s := job.state()).status.is_terminal and s, what="Lost")
    assert state.status == JobStatus.FAILED and state.reason == "Lost"
    wait_for(lambda: _gone(child), timeout=10, what="the job's child gone")
    # SIGKILLed members leave the process table when the kernel has torn them down: under load
    # that is not instant, so the session is waited for, not read once.
    wait_for(lambda: session_members(runner["pid"], int(runner["start"])) == [], timeout=10,
             what="the runner's session empty")  # fmt: skip


def test_children_of_a_cancelled_job_are_ended(store_uri):
    job = kinetic.run(grace_period=30)(jobfns.spawn_child).run_async(300)
    wait_log(job, "child ")
    child = int(job.logs().split("child ")[1].split()[0])
    runner = _launch(job)
    assert job.cancel().status == JobStatus.CANCELLED
    wait_for(lambda: _gone(child), timeout=10, what="the job's child gone")
    wait_for(lambda: session_members(runner["pid"], int(runner["start"])) == [], timeout=10)
