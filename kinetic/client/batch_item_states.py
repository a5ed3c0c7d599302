"""A batch's items' states where no item record says them (caller side, pure but for reads).

Where it sits: ``BatchHandle.states()`` (batch_handle.py) asks each item's backend; an
item with nothing to ask is either collected and cleaned up (``gone``) or, on kubernetes,
not created yet by the operator (``k8s_item_states``): waiting for a slot, or never to
start once the batch stopped (its KineticBatch: kinetic.backends.k8s_batch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kinetic.model.errors import JobNotFoundError
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus

if TYPE_CHECKING:
    from kinetic.client.batch_handle import BatchHandle


def gone(index: int, collected: dict[str, Any]) -> JobState:
    """An item whose records are gone: collected by results(cleanup=True), or cleaned up."""
    if index in set(collected.get("succeeded") or []):
        return JobState(JobStatus.SUCCEEDED, reason=Reason.CLEANED_UP,
                        message=f"collected and cleaned up at {collected.get('at')}")  # fmt: skip
    return JobState(JobStatus.NOT_FOUND, reason=Reason.CLEANED_UP, message="cleaned up")


def k8s_item_states(batch: BatchHandle, backend: Any, collected: dict[str, Any]) -> list[JobState]:
    """One list of the KineticJobs; an item the operator has not created is waiting
    for a slot (PENDING, BatchQueued), or never will be once the batch stopped."""
    from kinetic.backends.k8s_batch import stopped

    jobs: dict[int, Any] = {}
    for index in range(len(batch)):
        try:
            jobs[index] = batch.jobs[index]
        except JobNotFoundError:
            continue
    found = dict(zip(jobs, backend.states(list(jobs.values())) if jobs else [], strict=True))
    why = stopped(batch._probe(), batch.batch_id)
    done = set(collected.get("succeeded") or [])
    states = []
    for index in range(len(batch)):
        state = found.get(index)
        if state is not None and state.status != JobStatus.NOT_FOUND:
            states.append(state)
        elif index in done or index not in jobs:
            states.append(gone(index, collected))
        elif why:
            message = f"never started: the batch stopped ({why})"
            states.append(JobState(JobStatus.CANCELLED, reason=Reason.BATCH_STOPPED,
                                   message=message))  # fmt: skip
        else:
            states.append(JobState(JobStatus.PENDING, reason=Reason.BATCH_QUEUED,
                                   message="waiting for a slot (max_concurrent)"))  # fmt: skip
    return states
