"""Kueue's own word on a queued Job: its Workload's conditions and its queue position (pure).

Where it sits: the operator (kinetic_operator.controller) reads, for a Job suspended in a
Kueue queue, the Workload Kueue made for it (label ``kueue.x-k8s.io/job-uid``) and, where
the cluster serves Kueue's visibility API, the queue's pending workloads; ``kueue_view``
turns them into a ``KueueView`` that kinetic_operator.kueue_status puts in the job's
``Queued`` message. With neither readable (no Kueue, no RBAC, an old Kueue) the view is
empty and the message falls back to the Job's own ``Suspended`` condition.

What Kueue writes (v1beta1 and v1beta2 Workloads alike), in ``status.conditions``:

* ``QuotaReserved`` False, reason ``Pending`` (newer: a finer reason), message like
  "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu
  in flavor l4, 1 more needed" — the reason it waits;
* ``QuotaReserved`` True and ``Admitted`` False: quota held, admission checks pending
  (e.g. a ProvisioningRequest): the Admitted message, else the QuotaReserved one;
* ``Evicted`` True (reason ``Preempted``, ``InactiveWorkload``, ``PodsReadyTimeout``…):
  why it was stopped and put back in the queue.

The Workload holds no position: Kueue serves positions only through its visibility API
(``visibility.kueue.x-k8s.io``, ``…/localqueues/Q/pendingworkloads``), whose items carry
``positionInLocalQueue`` and ``positionInClusterQueue`` (0 = next).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"  # set by Kueue on the Workload of a batch/v1 Job
WORKLOAD_PLURAL = "workloads"
WORKLOAD_VERSIONS = ("v1beta2", "v1beta1")  # newest first: Kueue serves one or both
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VISIBILITY_VERSIONS = ("v1beta2", "v1beta1")  # newest first; one of them is served
MESSAGE_CHARS = 500


@dataclass(frozen=True)
class KueueView:
    """What Kueue says of one queued Job (each part None when not known)."""

    message: str | None = None  # the Workload's own message
    workload: str | None = None  # its name (kubectl describe workload NAME)
    position: int | None = None  # in its LocalQueue, 0 = next
    cluster_position: int | None = None  # in its ClusterQueue

    def describe(self) -> str | None:
        """The view as a phrase for the job's message; None when empty."""
        parts = []
        if self.position is not None:
            where = f"position {self.position + 1} in its queue"
            if self.cluster_position is not None:
                where += f" ({self.cluster_position + 1} in its ClusterQueue)"
            parts.append(where)
        if self.message:
            parts.append(self.message)
        return "; ".join(parts) or None


def workload_of(
    workloads: Iterable[Mapping[str, Any]], job_uid: str | None
) -> Mapping[str, Any] | None:
    """The Workload Kueue made for the Job of ``job_uid`` (owner reference or label), the
    newest if several (a Workload re-created after the Job changed)."""
    if not job_uid:
        return None
    found = [w for w in workloads if _owned_by(w, job_uid)]
    found.sort(key=lambda w: str((w.get("metadata") or {}).get("creationTimestamp") or ""))
    return found[-1] if found else None


def workload_message(workload: Mapping[str, Any] | None) -> str | None:
    """Why the Workload waits, in Kueue's words; None when its conditions say nothing."""
    if not workload:
        return None
    conditions = {c.get("type"): c for c in (workload.get("status") or {}).get("conditions") or []}
    evicted = conditions.get("Evicted")
    quota = conditions.get("QuotaReserved")
    admitted = conditions.get("Admitted")
    said: str | None = None
    if _is(quota, "False") and quota and quota.get("message"):
        said = str(quota["message"])
    elif _is(quota, "True") and _is(admitted, "False") and quota and admitted:
        checks = admitted.get("message") or quota.get("message")
        said = "quota reserved, waiting for admission checks" + (f": {checks}" if checks else "")
    if _is(evicted, "True") and evicted:
        why = f"evicted by Kueue ({evicted.get('reason') or 'Evicted'})"
        why += f": {evicted['message']}" if evicted.get("message") else ""
        said = "; ".join(filter(None, [why, said]))
    if said and len(said) > MESSAGE_CHARS:
        said = said[: MESSAGE_CHARS - 1] + "…"
    return said or None


def position_of(
    pending: Iterable[Mapping[str, Any]], workload_name: str | None, job_uid: str | None = None
) -> tuple[int | None, int | None]:
    """(position in the LocalQueue, in the ClusterQueue) of a Workload among the visibility
    API's pending workloads (matched by name, or by the Job owning it); (None, None)."""
    for item in pending:
        meta = item.get("metadata") or {}
        owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
        if (workload_name and meta.get("name") == workload_name) or (job_uid and job_uid in owners):
            return _int(item.get("positionInLocalQueue")), _int(item.get("positionInClusterQueue"))
    return None, None


def kueue_view(
    workloads: Iterable[Mapping[str, Any]] | None,
    pending: Iterable[Mapping[str, Any]] | None,
    job_uid: str | None,
) -> KueueView:
    """What Kueue says of the Job of ``job_uid``: ``workloads`` its namespace's Workloads
    (or only its own), ``pending`` its queue's pending workloads (None: not readable)."""
    workload = workload_of(workloads or [], job_uid)
    name = ((workload or {}).get("metadata") or {}).get("name")
    local, cluster = position_of(pending or [], name, job_uid)
    return KueueView(workload_message(workload), name, local, cluster)


def _is(cond: Mapping[str, Any] | None, status: str) -> bool:
    return cond is not None and cond.get("status") == status


def _owned_by(workload: Mapping[str, Any], job_uid: str) -> bool:
    meta = workload.get("metadata") or {}
    if (meta.get("labels") or {}).get(JOB_UID_LABEL) == job_uid:
        return True
    return any(o.get("uid") == job_uid for o in meta.get("ownerReferences") or [])


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
