"""Retries: which failures are retried, the two budgets, backoff, and each attempt's records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import jobfns
import pytest

import kinetic
from kinetic.model.retry_policy import MAX_BACKOFF, RetryPolicy, failure_kind, should_retry
from kinetic.store import layout, open_store


# -- the policy (pure) --------------------------------------------------------------------------
def test_failure_kinds():
    assert {failure_kind(r) for r in ("Evicted", "Preempted", "Lost")} == {"infrastructure"}
    assert {failure_kind(r) for r in ("UserError", "Error", "OOMKilled")} == {"error"}
    for final in ("DeadlineExceeded", "Cancelled", "RunnerError", "StoreNotShared", None):
        assert failure_kind(final) is None


def test_budgets_are_counted_apart():
    policy = RetryPolicy(retries=1, backoff=1, on_error=True)
    assert should_retry(policy, "Evicted", [])
    assert should_retry(policy, "UserError", [{"reason": "Evicted"}])  # its own budget
    assert not should_retry(policy, "Evicted", [{"reason": "Preempted"}])
    assert not should_retry(policy, "UserError", [{"reason": "Error"}])
    assert not should_retry(RetryPolicy(retries=3), "UserError", [])  # needs retry_on_error
    assert not should_retry(RetryPolicy(retries=0, on_error=True), "Lost", [])
    assert not should_retry(policy, "DeadlineExceeded", [])
    # A batch's retry_failed() renews the budget: attempts up to the one it queued again
    # (marked requeued) no longer count.
    used = [{"reason": "UserError"}, {"reason": "UserError", "requeued": True}]
    assert should_retry(policy, "UserError", used)
    assert not should_retry(policy, "UserError", [*used, {"reason": "UserError"}])


def test_backoff_doubles_up_to_its_cap():
    policy = RetryPolicy(retries=20, backoff=10)
    assert [policy.delay(n) for n in (1, 2, 3)] == [10, 20, 40]
    assert policy.delay(20) == MAX_BACKOFF


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 21}, "retries"),
        ({"retries": "3"}, "retries"),
        ({"retries": True}, "retries"),
        ({"retry_backoff": -1}, "retry_backoff"),
        ({"retry_backoff": MAX_BACKOFF + 1}, "retry_backoff"),
        ({"retry_on_error": "yes"}, "retry_on_error"),
    ],
)
def test_bad_retry_options_are_refused_before_anything_exists(options, named, tmp_path):
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    assert info.value.option == named and info.value.accepted
    assert not (tmp_path / "store").exists()


# -- the local backend ---------------------------------------------------------------------------
def test_job_errors_are_retried_only_when_asked(store_uri):
    retried = kinetic.run(retries=2, retry_on_error=True, retry_backoff=0.2)(
        jobfns.fail_until_attempt
    )
    job = retried.run_async(3)
    assert job.result(timeout=120, cleanup=False) == 3
    state = job.state()
    assert state.attempts == 3
    assert [r["attempt"] for r in state.previous_attempts] == [1, 2]
    assert {r["reason"] for r in state.previous_attempts} == {"UserError"}
    assert all(r["started"] <= r["finished"] for r in state.previous_attempts)
    assert "attempt 1 is not enough" in state.previous_attempts[0]["message"]
    # Each attempt's log is kept apart; the latest is the default.
    assert "this is attempt 1" in job.logs(attempt=1)
    assert "this is attempt 2" not in job.logs(attempt=1)
    assert "this is attempt 3" in job.logs() and "this is attempt 2" not in job.logs()
    assert "attempt 2 failed (UserError" in job.logs()  # why this attempt exists
    # The failed attempts' exception envelopes are kept as evidence.
    store = open_store(store_uri)
    assert store.exists(layout.result_key(job.job_id, 1))
    assert store.exists(layout.result_key(job.job_id, 2))

    not_asked = kinetic.run(retries=2, retry_backoff=0)(jobfns.fail_until_attempt)
    failing = not_asked.run_async(2)
    with pytest.raises(jobfns.CustomError, match="attempt 1 is not enough"):
        failing.result(timeout=60)
    assert failing.state().attempts == 1 and failing.state().previous_attempts == []


def test_retries_run_out(store_uri):
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=0)(
        jobfns.fail_until_attempt
    ).run_async(5)
    with pytest.raises(jobfns.CustomError, match="attempt 2 is not enough"):
        job.result(timeout=60)
    state = job.state()
    assert (state.status, state.attempts, len(state.previous_attempts)) == ("FAILED", 2, 1)


def test_a_lost_runner_is_retried_by_whoever_notices(tmp_path):
    marker = tmp_path / "attempt-1-started"
    job = kinetic.run(retries=1, retry_backoff=0.5)(jobfns.stall_on_first_attempt).run_async(
        str(marker)
    )
    store = open_store(job.store)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, job.logs()
        time.sleep(0.1)
    runner = json.loads(store.read_bytes(layout.launch_key(job.job_id)))
    os.kill(runner["pid"], signal.SIGKILL)  # as an OOM killer or a reboot would
    assert job.result(timeout=60, cleanup=False) == "done on attempt 2"
    state = job.state()
    assert state.attempts == 2
    (lost,) = state.previous_attempts
    assert lost["reason"] == "Lost" and lost["attempt"] == 1
    assert "this is attempt 1" in job.logs(attempt=1)
    assert "this is attempt 2" in job.logs()


def test_following_goes_on_into_the_retry(store_uri):
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=0.5)(
        jobfns.fail_until_attempt
    ).run_async(2)
    lines = list(job.stream_logs(follow=True))
    text = "".join(lines)
    assert text.index("this is attempt 1") < text.index("this is attempt 2")
    assert {line.attempt for line in lines} == {1, 2}
    assert job.result(timeout=30) == 2


def test_scheduled_retry_waits_and_can_be_cancelled(store_uri):
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=300)(
        jobfns.fail_until_attempt
    ).run_async(2)
    deadline = time.monotonic() + 60
    while (state := job.state()).reason != "Retrying":
        assert time.monotonic() < deadline and not state.status.is_terminal, state
        time.sleep(0.1)
    assert state.status == kinetic.JobStatus.PENDING and state.attempts == 2
    assert "attempt 1 failed (UserError)" in state.message
    start = datetime.fromisoformat(state.message.rsplit("starts at ", 1)[1].replace("Z", "+00:00"))
    assert (start - datetime.now(UTC)).total_seconds() > 200  # nothing runs early
    final = job.cancel()
    assert final.status == kinetic.JobStatus.CANCELLED
    assert final.previous_attempts[0]["reason"] == "UserError"


def test_cli_submit_with_retries_and_attempt_logs(store_uri):
    script = "import kinetic, sys; print('try', kinetic.attempt()); sys.exit(3)"
    submitted = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "submit", "--retries", "1",
         "--retry-on-error", "--retry-backoff", "0", "--", sys.executable, "-c", script],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    job = kinetic.attach(submitted.stdout.strip())
    with pytest.raises(kinetic.JobFailedError) as info:
        job.result(timeout=60)
    assert info.value.exit_code == 3
    status = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id, "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(status.stdout)
    assert data["attempts"] == 2 and data["previous_attempts"][0]["exit_code"] == 3
    first = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "logs", job.job_id, "--attempt", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert first.stdout.startswith("try 1")
    text = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "attempt 1" in text and "Error" in text
