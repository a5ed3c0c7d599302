"""Kueue's side of a Job: the labels it reads and the suspension it lifts (pure).

Where it sits: kinetic.k8s.job_manifest adds ``kueue_job_fields`` to the Job of a
KineticJob with ``queue`` (and ``priorityClass``); the operator's status derivation
(kinetic_operator.kueue_status) recognises a Kueue-managed Job by the same label. Kueue
(v0.7+) admits a Job by setting ``spec.suspend: false`` and preempts it by setting it back
to ``true``; the Job controller then deletes its pods and keeps a ``Suspended`` condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"  # a WorkloadPriorityClass
KUEUE_GROUP = "kueue.x-k8s.io"
LOCALQUEUE_PLURAL = "localqueues"
WORKLOAD_CRD = "workloads.kueue.x-k8s.io"


def kueue_job_fields(spec: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """(the Job's labels for Kueue, whether the Job starts suspended) of a KineticJob spec.
    A Job in a queue is created suspended: Kueue unsuspends it once admitted."""
    queue = spec.get("queue")
    if not queue:
        return {}, False
    labels = {QUEUE_LABEL: str(queue)}
    if spec.get("priorityClass"):
        labels[PRIORITY_LABEL] = str(spec["priorityClass"])
    return labels, True


def queue_of(job: Mapping[str, Any] | None) -> str | None:
    """The Kueue queue a Job was submitted to (its label), if any."""
    return (((job or {}).get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)
