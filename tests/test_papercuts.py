"""Small things that went wrong at the edges: a closed pipe, bulk cleanup, what a cleaned-up
job says, a function job's sys.argv. Through the CLI and the public API, on both stores."""

from __future__ import annotations

import subprocess
import sys

import jobfns
import pytest
from helpers import wait_status

import kinetic
from kinetic import JobStatus


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_closed_pipe_ends_the_cli_quietly(store_uri):
    for n in range(2):
        kinetic.run()(jobfns.add).run_async(n, n).wait(60)
    # `kinetic jobs list | head -0`: the reader is gone before the first line is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic.cli", "jobs", "list"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err.decode()) == (0, "")


def test_cleanup_of_finished_jobs_and_what_a_cleaned_up_job_says(store_uri):
    ok = kinetic.run()(jobfns.add).run_async(1, 1)
    bad = kinetic.run()(jobfns.fail_with).run_async("x")
    running = kinetic.run()(jobfns.sleeper).run_async(60)
    ok.wait(60), bad.wait(60)
    wait_status(running, JobStatus.RUNNING, 60)
    out = cli("jobs", "cleanup", "--finished", "--older-than", "7d")
    assert (out.returncode, out.stdout) == (0, "removed 0 finished jobs\n"), out.stderr
    out = cli("jobs", "cleanup", "--finished", "--status", "failed")
    assert (out.returncode, out.stdout) == (0, "removed 1 finished job\n"), out.stderr
    out = cli("jobs", "cleanup", "--finished")
    assert (out.returncode, out.stdout) == (0, "removed 1 finished job\n"), out.stderr
    assert [h.job_id for h in kinetic.list_jobs()] == [running.job_id]  # not finished: kept
    assert cli("jobs", "cleanup", "--older-than", "7d").returncode == 2  # needs --finished
    assert cli("jobs", "cleanup", "--finished", "--older-than", "soon").returncode == 2
    # What remains of a cleaned-up job: when it went.
    state = ok.state()
    assert state.status == JobStatus.NOT_FOUND and state.reason == "CleanedUp"
    assert "cleaned up at" in state.message and state.finished is not None
    out = cli("jobs", "status", bad.job_id)
    assert out.returncode == 3 and "it was cleaned up at" in out.stderr, out.stderr
    with pytest.raises(kinetic.JobNotFoundError, match="cleaned up at") as info:
        kinetic.attach(ok.job_id)
    assert info.value.cleaned_up
    running.cancel()


def test_a_function_job_sees_its_own_argv(store_uri):
    def argv_of_job():
        import sys

        return sys.argv

    assert kinetic.run()(argv_of_job)() == ["argv_of_job"]


def test_a_command_jobs_timeout_reads_the_same_everywhere(store_uri):
    job = kinetic.submit(["sleep", "60"], timeout=2, grace_period=1)
    state = job.wait(60)
    assert (state.status, state.reason) == (JobStatus.FAILED, "DeadlineExceeded")
    with pytest.raises(kinetic.JobFailedError) as raised:
        job.result()
    assert raised.value.reason == state.reason and "-15" not in str(raised.value)
    assert raised.value.exit_code == state.exit_code
    out = cli("jobs", "result", job.job_id)
    assert out.returncode == 1 and "DeadlineExceeded" in out.stderr
