"""Whether the operator may create a job's Job yet: its dependencies' KineticJobs. Pure.

Where it sits: ``Controller._sync`` (controller.py) calls ``dependency_verdict`` for a
KineticJob with ``spec.dependsOn`` whose Job is not created yet, with the KineticJobs of
its namespace from kopf's index; ``decide`` (decisions.py) turns the verdict into holding
the job (PENDING, WaitingForDependencies), ending it (CANCELLED, DependencyFailed), or
creating its Job with the dependencies' result keys and digests in the pod's environment
(kinetic.wire.dependency_ref). Nothing is remembered: a restarted operator derives the
same verdict from the same KineticJobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kinetic.k8s.kineticjob_body import KineticJob
from kinetic.model.dependency_verdict import DependencyView, Verdict, judge
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus, parse_time, utcnow
from kinetic.store import layout
from kinetic.wire.termination import valid_result

# A dependency's KineticJob is created before its dependent's, but their watch events may
# be handled in either order: missing this long after the dependent was created, it is gone.
MISSING_GRACE = 60.0


def dependency_view(job_id: str, kj: dict[str, Any] | None, missing_since: float) -> DependencyView:
    """One dependency as its KineticJob's status shows it (None: not in the cluster)."""
    if kj is None:
        if missing_since > MISSING_GRACE:
            return DependencyView(job_id, JobStatus.NOT_FOUND)
        return DependencyView(job_id, JobStatus.PENDING, message="not seen yet")
    status = kj.get("status") or {}
    try:
        phase = JobStatus(status.get("phase") or JobStatus.PENDING.value)
    except ValueError:
        phase = JobStatus.PENDING
    result = None
    found = valid_result(status.get("result"))
    if phase == JobStatus.SUCCEEDED and found:
        attempt = max(1, int(status.get("attempts") or 1))
        result = {"key": layout.result_key(job_id, attempt), "sha256": found["sha256"]}
    return DependencyView(job_id, phase, status.get("reason"), status.get("message"), result)


def dependency_verdict(
    kj: KineticJob,
    lookup: Callable[[str], dict[str, Any] | None],
    now: datetime | None = None,
) -> Verdict | None:
    """The verdict on ``kj``'s dependencies (None: it has none); ``lookup`` finds a
    KineticJob of the same namespace by name."""
    ids = list(kj["spec"].get("dependsOn") or [])
    if not ids:
        return None
    created = parse_time((kj.get("metadata") or {}).get("creationTimestamp"))
    age = ((now or utcnow()) - created).total_seconds() if created else 0.0
    return judge([dependency_view(i, lookup(i), age) for i in ids])


def held_patch(verdict: Verdict) -> dict[str, Any]:
    """The status of a job held for its dependencies, or ended by one."""
    if verdict.failed:
        return {"phase": JobStatus.CANCELLED.value, "reason": Reason.DEPENDENCY_FAILED,
                "message": verdict.message}  # fmt: skip
    return {"phase": JobStatus.PENDING.value, "reason": verdict.reason,
            "message": verdict.message}  # fmt: skip
