"""Whether the operator may create a job's Job yet: its dependencies' KineticJobs. Pure.

Where it sits: ``Controller._sync`` (controller.py) calls ``dependency_verdict`` for a
KineticJob with ``spec.dependsOn`` whose Job is not created yet, with the KineticJobs of
its namespace from kopf's index; ``decide`` (decisions.py) turns the verdict into holding
the job (PENDING, WaitingForDependencies), ending it (CANCELLED, DependencyFailed), or
creating its Job with the dependencies' result keys and digests in the pod's environment
(kinetic.wire.dependency_ref). A dependency may be a whole batch (its KineticBatch): it
counts as one, ended once the batch has (kinetic.model.batch_dependency). Nothing is
remembered: a restarted operator derives the
same verdict from the same KineticJobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kinetic.k8s.kineticjob_body import KineticJob
from kinetic.model.batch_dependency import batch_view, waiting_batch
from kinetic.model.batch_record import item_job_id
from kinetic.model.dependency_verdict import DependencyView, Verdict, judge
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus, parse_time, utcnow
from kinetic.store import layout
from kinetic.wire.termination import valid_result

# A dependency's KineticJob is created before its dependent's, but their watch events may
# be handled in either order: missing this long after the dependent was created, it is gone.
MISSING_GRACE = 60.0
ENDED = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


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


def batch_dependency_view(
    batch_id: str, batch: dict[str, Any], lookup: Callable[[str], dict[str, Any] | None]
) -> DependencyView:
    """A whole batch as one dependency: waiting while its KineticBatch has not ended, then
    from its items' KineticJobs (one the operator never created: the batch stopped first)."""
    status = batch.get("status") or {}
    total = int((batch.get("spec") or {}).get("total") or 0)
    if status.get("phase") not in ENDED:
        return waiting_batch(batch_id, f"{int(status.get('succeeded') or 0)}/{total} items "
                                       "succeeded")  # fmt: skip
    created = int(status.get("created") or 0)
    items, attempts = [], []
    for index in range(total):
        item_id = item_job_id(batch_id, index)
        found = lookup(item_id)
        if found is None and index >= created:
            stopped = status.get("stopped") or Reason.CANCELLED.value
            items.append(DependencyView(item_id, JobStatus.CANCELLED, stopped, "never started"))
        else:
            items.append(dependency_view(item_id, found, MISSING_GRACE + 1))
        attempts.append(max(1, int(((found or {}).get("status") or {}).get("attempts") or 1)))
    return batch_view(batch_id, items, attempts)


def dependency_verdict(
    kj: KineticJob,
    lookup: Callable[[str], dict[str, Any] | None],
    now: datetime | None = None,
    lookup_batch: Callable[[str], dict[str, Any] | None] | None = None,
) -> Verdict | None:
    """The verdict on ``kj``'s dependencies (None: it has none); ``lookup`` finds a
    KineticJob of the same namespace by name, ``lookup_batch`` a KineticBatch (a job may
    depend on a whole batch: its id in dependsOn)."""
    ids = list(kj["spec"].get("dependsOn") or [])
    if not ids:
        return None
    created = parse_time((kj.get("metadata") or {}).get("creationTimestamp"))
    age = ((now or utcnow()) - created).total_seconds() if created else 0.0
    views = []
    for dep_id in ids:
        found = lookup(dep_id)
        batch = lookup_batch(dep_id) if found is None and lookup_batch is not None else None
        if batch is not None:
            views.append(batch_dependency_view(dep_id, batch, lookup))
        else:
            views.append(dependency_view(dep_id, found, age))
    return judge(views)


def held_patch(verdict: Verdict) -> dict[str, Any]:
    """The status of a job held for its dependencies, or ended by one."""
    if verdict.failed:
        return {"phase": JobStatus.CANCELLED.value, "reason": Reason.DEPENDENCY_FAILED,
                "message": verdict.message}  # fmt: skip
    return {"phase": JobStatus.PENDING.value, "reason": verdict.reason,
            "message": verdict.message}  # fmt: skip
