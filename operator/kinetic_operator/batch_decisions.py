"""What a batch needs next (pure): which items to create, which to cancel, its counts.

Where it sits: the batch driver (batch_driver.py) calls ``decide_batch`` on every event of
a KineticBatch or of one of its items' KineticJobs, with the batch's spec and status and
what the index shows of its items, then acts on the returned ``BatchStep``. Items are
created in index order: ``status.created`` says how many were handed a KineticJob, so an
item below it that no longer exists was cleaned up (never created again), and a restarted
operator goes on where the last one stopped (a create that finds the item is a no-op).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus

ENDED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class Item:
    """One item as the index shows it: its phase, and whether its cancel was asked."""

    phase: str
    cancel: bool = False


@dataclass(frozen=True)
class BatchStep:
    create: tuple[int, ...]  # item indexes to create now, in order
    cancel: tuple[int, ...]  # running or pending items to cancel (spec.cancel)
    status: dict[str, Any]  # the batch's status as it should be (counts only)


def decide_batch(
    spec: Mapping[str, Any], status: Mapping[str, Any], items: Mapping[int, Item],
    just_created: frozenset[int] = frozenset(),
) -> BatchStep:  # fmt: skip
    """``items``: index → Item for the KineticJobs the index shows; ``just_created``: items
    this operator created whose KineticJob the watch has not shown yet (unfinished)."""
    total, limit = int(spec["total"]), max(1, int(spec.get("maxConcurrent") or 1))
    created = max(int(status.get("created") or 0), max(just_created, default=-1) + 1,
                  max(items, default=-1) + 1)  # fmt: skip
    phases = {i: JobStatus(item.phase) for i, item in items.items()}
    for index in just_created - set(items):
        phases[index] = JobStatus.PENDING
    unfinished = [i for i, phase in phases.items() if phase not in ENDED]
    failed = any(phase == JobStatus.FAILED for phase in phases.values())
    stopped = None
    if spec.get("cancel"):
        stopped = Reason.CANCELLED.value
    elif spec.get("failFast") and failed:
        stopped = Reason.BATCH_STOPPED.value
    create: tuple[int, ...] = ()
    if stopped is None:
        room = max(0, limit - len(unfinished))
        create = tuple(range(created, min(total, created + room)))
    cancel: tuple[int, ...] = ()
    if spec.get("cancel") or (stopped and spec.get("cancelRunningOnFail")):
        cancel = tuple(sorted(i for i in unfinished if i in items and not items[i].cancel))
    counts = {s: sum(1 for p in phases.values() if p == s) for s in JobStatus}
    handed = created + len(create)
    waiting = total - handed  # never created yet
    done = not unfinished and not create and (waiting == 0 or stopped is not None)
    new_status: dict[str, Any] = {
        "created": handed,
        "succeeded": counts[JobStatus.SUCCEEDED],
        "failed": counts[JobStatus.FAILED],
        "cancelled": counts[JobStatus.CANCELLED],
        "running": counts[JobStatus.RUNNING],
        "pending": counts[JobStatus.PENDING] + len(create) + (0 if stopped else waiting),
        "notStarted": waiting if stopped else 0,
        "phase": _phase(done, stopped, counts),
    }
    if stopped:
        new_status["stopped"] = stopped
    return BatchStep(create, cancel, new_status)


def _phase(done: bool, stopped: str | None, counts: Mapping[JobStatus, int]) -> str:
    if not done:
        return JobStatus.RUNNING.value
    if stopped and stopped != Reason.BATCH_STOPPED.value:
        return JobStatus.CANCELLED.value
    if counts[JobStatus.FAILED] or counts[JobStatus.CANCELLED] or stopped:
        return JobStatus.FAILED.value
    return JobStatus.SUCCEEDED.value


def status_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``new`` that differ from ``old``: the patch to write (empty: none)."""
    return {k: v for k, v in new.items() if old.get(k) != v}
