"""Kueue: what a queued, admitted or preempted Job means for the KineticJob's status (pure).

Where it sits: reconcile.py (the status derivation) and pod_status.vanished ask these
about a Job that carries Kueue's queue label (kinetic.k8s.kueue). The operator creates
such a Job suspended; Kueue admits it by unsuspending it, and preempts it by suspending it
again, after which the Job controller deletes its pods. So:

* suspended → PENDING, reason ``Queued``, with the queue and Kueue's own word: the
  Workload's message and the queue position (kinetic.k8s.kueue_workload, read by the
  controller when the chart's RBAC lets it), else the Job's ``Suspended`` condition
  message;
* pods created before the Job's last admission are an earlier admission's, stopped by a
  preemption: they are not this attempt's failure, cost no retry, and their deletion is
  not a lost pod. The admission time is the ``Suspended`` condition's transition to
  ``False`` (Kubernetes ≥ 1.24 writes it on every resume).
"""

from __future__ import annotations

from datetime import datetime

from kinetic.k8s.kueue import queue_of
from kinetic.k8s.kueue_workload import KueueView
from kinetic_operator.objects import Obj, condition, meta, time_of


def is_suspended(job: Obj) -> bool:
    return bool((job.get("spec") or {}).get("suspend")) or condition(job, "Suspended") is not None


def admitted_at(job: Obj) -> datetime | None:
    """When Kueue last let the Job run (its Suspended condition turned False)."""
    resumed = condition(job, "Suspended", "False")
    return time_of(resumed.get("lastTransitionTime")) if resumed else None


def current_pods(job: Obj | None, pods: list[Obj]) -> list[Obj]:
    """The pods of the Job's current admission (all pods of a Job Kueue does not manage)."""
    if job is None or not queue_of(job):
        return pods
    if is_suspended(job):
        return []  # preempted (or not admitted yet): whatever is left is being stopped
    since = admitted_at(job)
    if since is None:
        return pods
    return [p for p in pods if (time_of(meta(p, "creationTimestamp")) or since) >= since]


def queued_message(job: Obj, previous: Obj | None, kueue: KueueView | None = None) -> str:
    """Why a Kueue Job waits: its queue, whether it ran before (preempted), and what Kueue
    says of its Workload (position, message), else what the Job's Suspended condition says."""
    said = (kueue.describe() if kueue else None) or (
        (condition(job, "Suspended") or {}).get("message") or "Job suspended"
    )
    queue = queue_of(job)
    if (previous or {}).get("startTime"):
        return f"preempted by Kueue; waiting in queue {queue} to be admitted again ({said})"
    return f"waiting in Kueue queue {queue} to be admitted ({said})"
