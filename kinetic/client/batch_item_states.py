"""A batch's items' states where no item record says them (caller side, pure but for reads).

Where it sits: ``BatchHandle.states()`` (batch_handle.py) asks each item's backend; an
item with nothing to ask is collected and cleaned up (``gone``). On kubernetes the items'
states come from one list of KineticJobs (``k8s_item_states``); the backend itself says
what an item the operator has not created yet is (kinetic.k8s.batch_items), so
``batch.jobs[i].state()`` and ``batch.states()`` agree.
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
    """One list of the KineticJobs (the backend says what an item not created yet, or
    queued again by retry_failed(), is: kinetic.k8s.batch_items); an item with no record
    left, or whose KineticJob was deleted, was collected or cleaned up."""
    jobs: dict[int, Any] = {}
    for index in range(len(batch)):
        try:
            jobs[index] = batch.jobs[index]
        except JobNotFoundError:
            continue
    found = dict(zip(jobs, backend.states(list(jobs.values())) if jobs else [], strict=True))
    states = []
    for index in range(len(batch)):
        state = found.get(index)
        if state is None or state.status == JobStatus.NOT_FOUND:
            states.append(gone(index, collected))
        else:
            states.append(state)
    return states
