"""start_at: a job waits PENDING (reason Scheduled) until its time; cancellable meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jobfns
import pytest
from helpers import wait_for
from kinetic_operator.decisions import Action, decide, status_patch

import kinetic
from kinetic import JobStatus
from kinetic.k8s.kineticjob import build_kineticjob


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_start_at_is_validated_and_normalized():
    year = datetime.now(UTC).year + 1  # a time ahead (one in the past is refused)
    spec = kinetic.JobSpec(start_at=f"{year}-01-01T10:00:00+01:00")
    assert spec.start_at == f"{year}-01-01T09:00:00Z"
    for bad in ("tomorrow", 12, soon(400 * 86400), soon(-3600)):
        with pytest.raises(kinetic.SpecError) as info:
            kinetic.JobSpec(start_at=bad)
        assert info.value.option == "start_at"


def test_nothing_runs_early(store_uri):
    start = soon(8)  # far enough ahead to see it waiting on a loaded machine
    job = kinetic.run(start_at=start)(jobfns.job_identity).run_async()
    state = wait_for(lambda: (s := job.state()).reason == "Scheduled" and s, what="Scheduled")
    assert state.status == JobStatus.PENDING and state.started is None
    assert job.result(timeout=60, cleanup=False)["job_id"] == job.job_id
    assert job.state().started >= start  # it did not start before its time


def test_cancel_while_scheduled(store_uri):
    job = kinetic.run(start_at=soon(600))(jobfns.add).run_async(1, 2)
    wait_for(lambda: job.state().reason == "Scheduled", what="Scheduled")
    state = job.cancel()
    assert state.status == JobStatus.CANCELLED and state.started is None
    with pytest.raises(kinetic.JobCancelledError):
        job.result()


def test_operator_waits_for_start_at():
    spec = kinetic.JobSpec(start_at=soon(60)).to_dict()
    kj = build_kineticjob("later-1", function="f", store="gs://b", payload_sha256="a" * 64,
                          spec=spec)  # fmt: skip
    kj["metadata"].update(namespace="ns", uid="u", generation=1)
    action = decide(kj, None, [], store_shared=True)
    assert action == Action(wait_until=spec["start_at"])
    patch = status_patch(kj, None, [], action)
    assert (patch["phase"], patch["reason"]) == ("PENDING", "Scheduled")
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert decide(kj, None, [], store_shared=True, now=later) == Action(create_job=True)
    cancelled = {**kj, "spec": {**kj["spec"], "cancel": True}}
    assert decide(cancelled, None, [], store_shared=True) == Action()
    assert status_patch(cancelled, None, [], Action())["phase"] == "CANCELLED"
