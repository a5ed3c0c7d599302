"""The queue (kinetic.client.job_queue): jobs not yet running, oldest first, and why."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jobfns
import pytest
from helpers import wait_for, wait_log

import kinetic
from kinetic.client.job_queue import queue, waiting
from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobState, JobStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def record(job_id="j-1", **spec) -> JobRecord:
    return JobRecord(job_id, "kubernetes", "file:///s", "m.f", "2026-12-01T11:00:00Z", spec=spec)


@pytest.mark.parametrize(
    ("reason", "message", "why"),
    [
        ("Unschedulable", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
         "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
        ("ImagePullBackOff", 'Back-off pulling image "ghcr.io/x/y:1"',
         'ImagePullBackOff: Back-off pulling image "ghcr.io/x/y:1"'),
        ("ErrImagePull", "manifest unknown", "ErrImagePull: manifest unknown"),
        ("Queued", "job 41 is pending in SLURM (Resources)",
         "Queued: job 41 is pending in SLURM (Resources)"),
        # A reason this module does not know (another helper's): shown as it comes.
        ("WaitingForDependencies", "waiting for prep-1 (RUNNING)",
         "WaitingForDependencies: waiting for prep-1 (RUNNING)"),
        ("Starting", None, "Starting"),
        (None, None, "waiting"),
    ],
)  # fmt: skip
def test_why_a_job_waits(reason, message, why):
    state = JobState(JobStatus.PENDING, reason, message, created=NOW - timedelta(minutes=5))
    entry = waiting(record(), state, NOW)
    assert entry.why == why and entry.waited == 300.0 and entry.until is None
    assert entry.attempt == 1 and json.loads(json.dumps(entry.to_dict()))["why"] == why


def test_scheduled_and_retrying_say_until_when():
    state = JobState(JobStatus.PENDING, "Scheduled", "starts at 2026-12-01T13:00:00Z",
                     created=NOW - timedelta(hours=1))  # fmt: skip
    entry = waiting(record(), state, NOW)
    assert entry.why == "Scheduled until 2026-12-01T13:00:00Z" and entry.waited == 3600.0
    # A retry waits from the end of the attempt before it.
    state = JobState(
        JobStatus.PENDING, "Retrying",
        "attempt 1 failed (Evicted); starts at 2026-12-01T12:00:40Z",
        created=NOW - timedelta(hours=2), attempts=2,
        previous_attempts=[{"attempt": 1, "finished": "2026-12-01T11:59:50Z"}],
    )  # fmt: skip
    entry = waiting(record(), state, NOW)
    assert entry.why == "Retrying at 2026-12-01T12:00:40Z (attempt 1 failed (Evicted))"
    assert entry.waited == 10.0 and entry.attempt == 2
    # The job's start_at when the state does not say it.
    state = JobState(JobStatus.PENDING, "Scheduled", None, created=NOW)
    entry = waiting(record(start_at="2026-12-02T00:00:00Z"), state, NOW)
    assert entry.why == "Scheduled until 2026-12-02T00:00:00Z"


def test_the_local_queue_oldest_first(store_uri, tmp_path):
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = kinetic.run(start_at=later)(jobfns.add).run_async(1, 2)
    wait_for(lambda: scheduled.state().reason == "Scheduled", timeout=60, what="Scheduled")
    retrying = kinetic.submit(["false"], retries=1, retry_on_error=True, retry_backoff=600)
    wait_for(lambda: retrying.state().reason == "Retrying", timeout=60, what="Retrying")
    go = tmp_path / "go"
    running = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(go), 300)
    wait_log(running, "started", timeout=60)

    entries = queue()
    assert [e.job_id for e in entries] == [scheduled.job_id, retrying.job_id]
    first, second = entries
    until = later.replace(microsecond=0)
    assert first.why.startswith("Scheduled until ") and first.until is not None
    assert abs((first.until - until).total_seconds()) < 1
    assert second.why.startswith("Retrying at ") and "attempt 1 failed (Error" in second.why
    assert second.attempt == 2 and 550 < (second.until - datetime.now(UTC)).total_seconds() < 610

    rows = json.loads(cli("jobs", "queue", "-o", "json").stdout)
    assert [r["job_id"] for r in rows] == [scheduled.job_id, retrying.job_id]
    assert rows[0]["waited_seconds"] >= 0 and rows[1]["attempt"] == 2
    text = cli("jobs", "queue").stdout
    assert "Scheduled until" in text and "Retrying at" in text and running.job_id not in text

    for job in (scheduled, retrying):
        job.cancel()
    go.touch()
    assert queue() == []
    assert "no job is waiting" in cli("jobs", "queue").stderr
