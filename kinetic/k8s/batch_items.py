"""A batch's item on kubernetes where its KineticJob alone does not say its state (pure).

Where it sits: between the client's reads (kinetic.backends.kubernetes, k8s_batch) and the
operator's batch driver (kinetic_operator.batch_driver), which must agree on two things:

* an item the operator has **not created yet** has no KineticJob: it is waiting for a slot
  (PENDING, ``BatchQueued``), never to start once the batch stopped (CANCELLED,
  ``BatchStopped``), or gone if it was created (``status.created`` is past it) and deleted;
* an item **queued again** by ``retry_failed()`` is a FAILED KineticJob labelled
  ``kinetic.dev/batch-requeued=N`` where N is its failed attempt: it waits for a slot
  (PENDING, ``BatchQueued``) until the operator starts attempt N+1, whose retry budget
  counts only the attempts after N (``counted_attempts``).

The mark is a label on the item itself, so nothing in the KineticBatch grows with the
number of items retried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kinetic.k8s.names import LABEL_BATCH_REQUEUED
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus

QUEUED_MESSAGE = "waiting for a slot in its batch (max_concurrent)"
REQUEUED_MESSAGE = "queued again by retry_failed(): waiting for a slot in its batch"


def item_attempt(kj: Mapping[str, Any]) -> int:
    """The attempt the item's KineticJob is on (1, then one more per retry)."""
    return max(1, int((kj.get("status") or {}).get("attempts") or 1))


def requeued_mark(kj: Mapping[str, Any]) -> int:
    """The attempt retry_failed() last queued again (0: never)."""
    labels = (kj.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get(LABEL_BATCH_REQUEUED) or 0)
    except ValueError:
        return 0


def queued_again(kj: Mapping[str, Any]) -> bool:
    """Failed, and queued again by retry_failed(): the operator has not restarted it yet."""
    phase = (kj.get("status") or {}).get("phase")
    return phase == JobStatus.FAILED.value and requeued_mark(kj) == item_attempt(kj)


def requeue_patch(kj: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata patch that queues a failed item again (the client's write)."""
    return {"metadata": {"labels": {LABEL_BATCH_REQUEUED: str(item_attempt(kj))}}}


def counted_attempts(kj: Mapping[str, Any], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The earlier attempts that count against the retry budget: those after the last
    retry_failed() (which gives an item its whole budget again)."""
    mark = requeued_mark(kj)
    return [r for r in previous if int(r.get("attempt") or 0) > mark]


def as_queued(state: JobState) -> JobState:
    """A requeued item's state: PENDING BatchQueued, its failed attempt's record kept."""
    return dataclasses.replace(state, status=JobStatus.PENDING, reason=Reason.BATCH_QUEUED,
                               message=REQUEUED_MESSAGE, finished=None)  # fmt: skip


def unborn_state(batch: Mapping[str, Any] | None, index: int) -> JobState:
    """Item ``index`` without a KineticJob, from its KineticBatch (None: deleted)."""
    if batch is None:
        return JobState(JobStatus.NOT_FOUND, message="no KineticBatch (cleaned up?)")
    spec, status = batch.get("spec") or {}, batch.get("status") or {}
    if index < int(status.get("created") or 0):  # created, then deleted (collected, cleanup)
        return JobState(JobStatus.NOT_FOUND, reason=Reason.CLEANED_UP,
                        message="no KineticJob (cleaned up?)")  # fmt: skip
    why = status.get("stopped") or (Reason.CANCELLED.value if spec.get("cancel") else None)
    if why:
        return JobState(JobStatus.CANCELLED, reason=Reason.BATCH_STOPPED,
                        message=f"never started: the batch stopped ({why})")  # fmt: skip
    return JobState(JobStatus.PENDING, reason=Reason.BATCH_QUEUED, message=QUEUED_MESSAGE)
