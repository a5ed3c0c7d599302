"""Kueue: queue=/priority_class=, the Job the operator builds for it, and the status of its
suspended → admitted → preempted → admitted cycle, on the real dump (kueue#2391) and on
objects built the way Kueue and the Job controller write them.

The test control plane is Kubernetes 1.20, whose Job has no ``suspend``: nothing here
runs against it. See docs/kubernetes.md#kueue for what ran where.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from chart_support import kineticjob

try:
    from kinetic_operator.decisions import Action, decide, status_patch
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
    from kinetic_operator.decisions import Action, decide, status_patch
from kinetic_operator.pod_status import vanished
from kinetic_operator.reconcile import derive_status
from test_reconcile import NOW, load

import kinetic
from kinetic.k8s.job_manifest import OperatorConfig, build_job
from kinetic.k8s.kueue import PRIORITY_LABEL, QUEUE_LABEL
from kinetic.model.errors import SpecError
from kinetic.spec.job_spec import JobSpec

ADMITTED = "2029-12-31T23:50:00Z"
PREEMPTED = "2029-12-31T23:55:00Z"
READMITTED = "2029-12-31T23:58:00Z"


# -- the options and the Job ---------------------------------------------------------------
def test_queue_options_are_checked():
    spec = JobSpec(queue="team-a", priority_class="high")
    assert (spec.queue, spec.priority_class) == ("team-a", "high")
    for bad in ("Team A", "-a", "a" * 64, 3):
        with pytest.raises(SpecError, match="queue"):
            JobSpec(queue=bad)
    with pytest.raises(SpecError, match=r"priority_class.*queue"):
        JobSpec(priority_class="high")


def test_the_local_and_slurm_backends_refuse_a_queue():
    with pytest.raises(SpecError, match=r"backend=.kubernetes.*LocalQueue"):
        kinetic.run(queue="team-a", backend="local")(len).run_async([1])


def test_the_job_starts_suspended_with_kueues_labels():
    kj = kineticjob(queue="team-a", priority_class="high")
    assert (kj["spec"]["queue"], kj["spec"]["priorityClass"]) == ("team-a", "high")
    job = build_job(kj, OperatorConfig())
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"][QUEUE_LABEL] == "team-a"
    assert job["metadata"]["labels"][PRIORITY_LABEL] == "high"
    # Kueue reads the Job's labels; the pods keep only Kinetic's.
    assert QUEUE_LABEL not in job["spec"]["template"]["metadata"]["labels"]
    plain = build_job(kineticjob(), OperatorConfig())
    assert "suspend" not in plain["spec"] and QUEUE_LABEL not in plain["metadata"]["labels"]
    no_priority = build_job(kineticjob(queue="team-a"), OperatorConfig())
    assert PRIORITY_LABEL not in no_priority["metadata"]["labels"]


# -- the cycle, on objects built as Kueue and the Job controller write them ----------------
def _kj(**status: Any) -> dict:
    kj = kineticjob(queue="team-a")
    kj["status"] = {"jobName": "train-abc12345", "attempts": 1, **status}
    return kj


def _job(suspend: bool, *conditions: dict) -> dict:
    job = build_job(_kj(), OperatorConfig())
    job["metadata"]["uid"] = "job-uid"
    job["spec"]["suspend"] = suspend
    job["status"] = {"conditions": list(conditions)} if conditions else {}
    return job


def _suspended(at: str, status: str = "True") -> dict:
    reason, message = ("JobSuspended", "Job suspended") if status == "True" else (
        "JobResumed", "Job resumed")  # fmt: skip
    return {"type": "Suspended", "status": status, "reason": reason, "message": message,
            "lastProbeTime": at, "lastTransitionTime": at}  # fmt: skip


def _pod(name: str, created: str, phase: str, **extra: Any) -> dict:
    pod: dict[str, Any] = {
        "metadata": {"name": name, "creationTimestamp": created,
                     "labels": {"kinetic.dev/job-id": "train-abc12345"}},
        "spec": {"nodeName": "gpu-node-1"},
        "status": {"phase": phase, "startTime": created},
    }  # fmt: skip
    if phase == "Running":
        pod["status"]["containerStatuses"] = [
            {"name": "job", "ready": True, "state": {"running": {"startedAt": created}}}
        ]
    pod["metadata"].update(extra)
    return pod


def test_a_queued_job_says_so_with_kueues_message():
    job = _job(True, _suspended("2029-12-31T23:40:00Z"))
    st = derive_status(job, [], previous=_kj()["status"], job_created=True, now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")
    assert st.message == "waiting in Kueue queue team-a to be admitted (Job suspended)"
    # Just created, before the Job controller wrote its condition: suspend alone says it.
    st = derive_status(_job(True), [], job_created=True, now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")


def test_admitted_runs_then_preempted_is_queued_again_and_costs_no_retry():
    first = _pod("train-abc12345-x1", "2029-12-31T23:50:02Z", "Running")
    admitted = _job(False, _suspended(ADMITTED, "False"))
    st = derive_status(admitted, [first], previous=_kj()["status"], job_created=True, now=NOW)
    assert st.phase == "RUNNING" and st.started == "2029-12-31T23:50:02Z"
    running = _kj(phase="RUNNING", startTime=st.started)["status"]

    # Kueue suspends the Job again; the Job controller deletes the pod.
    preempted = _job(True, _suspended(PREEMPTED))
    stopping = _pod("train-abc12345-x1", "2029-12-31T23:50:02Z", "Running",
                    deletionTimestamp="2029-12-31T23:55:01Z")  # fmt: skip
    st = derive_status(preempted, [stopping], previous=running, job_created=True, now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")
    assert st.message.startswith("preempted by Kueue; waiting in queue team-a")
    assert vanished(stopping, preempted, now=NOW) is None  # not a lost attempt
    kj = _kj(phase="RUNNING", startTime="2029-12-31T23:50:02Z")
    assert decide(kj, preempted, [stopping], store_shared=True) == Action()
    patch = status_patch(kj, preempted, [stopping], Action())
    assert patch is not None and patch["phase"] == "PENDING" and patch["reason"] == "Queued"
    assert "previousAttempts" not in patch and "retryAt" not in patch

    # The pod ends Failed (SIGTERM): still only queued, whatever it reported.
    killed = _pod("train-abc12345-x1", "2029-12-31T23:50:02Z", "Failed")
    st = derive_status(preempted, [killed], previous=running, job_created=True, now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")

    # Admitted again: the old pod is the earlier admission's, not a failure of this one.
    readmitted = _job(False, _suspended(READMITTED, "False"))
    st = derive_status(readmitted, [killed], previous=running, job_created=True, now=NOW)
    assert st.phase == "PENDING" and st.reason != "Retrying"
    kj = _kj(phase="PENDING", reason="Queued", startTime="2029-12-31T23:50:02Z")
    patch = status_patch(kj, readmitted, [killed], Action()) or {}
    assert patch.get("phase", "PENDING") == "PENDING" and "previousAttempts" not in patch
    assert vanished(killed, readmitted, now=NOW) is None
    second = _pod("train-abc12345-x2", "2029-12-31T23:58:01Z", "Running")
    st = derive_status(readmitted, [killed, second], previous=running, job_created=True, now=NOW)
    assert st.phase == "RUNNING" and st.pod_name == "train-abc12345-x2"
    assert st.started == "2029-12-31T23:50:02Z"  # the job's first start is kept


def test_a_pod_stopped_by_kueue_before_it_ran_is_not_a_failure():
    """kueue#2213: a pod Failed with TerminationTarget/StoppedByKueue, never scheduled."""
    pod = load("10-pod-gke-nvidia-l4-unschedulable-then-failed-kueue-issue2213.yaml")
    pod = copy.deepcopy(pod)
    pod["metadata"]["creationTimestamp"] = "2029-12-31T23:50:01Z"
    preempted = _job(True, _suspended(PREEMPTED))
    st = derive_status(preempted, [pod], previous=_kj()["status"], job_created=True, now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")


def test_the_real_suspended_dump_is_queued_and_a_plain_suspended_job_is_not():
    job = load("11-job-suspended-gpu-kueue-issue2391.yaml")
    st = derive_status(job, [], now=NOW)
    assert (st.phase, st.reason) == ("PENDING", "Queued")
    assert "lq-all-resources" in st.message and "Job suspended" in st.message
    st = derive_status(job, [], previous={"phase": "RUNNING", "startTime": ADMITTED}, now=NOW)
    assert st.message.startswith("preempted by Kueue; waiting in queue lq-all-resources")
    plain = copy.deepcopy(job)
    del plain["metadata"]["labels"][QUEUE_LABEL]
    assert derive_status(plain, [], now=NOW).reason == "Suspended"
