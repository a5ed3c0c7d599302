"""What a batch needs next (pure): which items to create, which to cancel, its counts.

Where it sits: the batch driver (batch_driver.py) calls ``decide_batch`` on every event of
a KineticBatch or of one of its items' KineticJobs, with the batch's spec and status and
what the index shows of its items, then acts on the returned ``BatchStep``. Items are
created in index order: ``status.created`` says how many were handed a KineticJob, so an
item below it that no longer exists was cleaned up (never created again), and a restarted
operator goes on where the last one stopped (a create that finds the item is a no-op).
An item queued again by retry_failed() (kinetic.k8s.batch_items) waits like an item not
created yet, and is started again (``release``) before any new item, lowest index first.
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
    queued: bool = False  # failed, and queued again by retry_failed()


@dataclass(frozen=True)
class BatchStep:
    create: tuple[int, ...]  # item indexes to create now, in order
    cancel: tuple[int, ...]  # running or pending items to cancel (spec.cancel)
    status: dict[str, Any]  # the batch's status as it should be (counts only)
    release: tuple[int, ...] = ()  # items queued again to start now (their next attempt)
    unqueue: tuple[int, ...] = ()  # items queued again that never will be: the batch stopped


def decide_batch(
    spec: Mapping[str, Any], status: Mapping[str, Any], items: Mapping[int, Item],
    just_created: frozenset[int] = frozenset(), just_released: frozenset[int] = frozenset(),
) -> BatchStep:  # fmt: skip
    """``items``: index → Item for the KineticJobs the index shows; ``just_created``: items
    this operator created whose KineticJob the watch has not shown yet (unfinished);
    ``just_released``: queued items it started again whose new attempt the watch has not
    shown yet (unfinished too)."""
    total, limit = int(spec["total"]), max(1, int(spec.get("maxConcurrent") or 1))
    # An item cancelled by its own handle before its turn was made by the client, out of
    # order (kinetic.backends.kubernetes: _cancel_unborn): it does not mean the items below
    # it were handed out. Its turn's create finds it there (a 409, taken as done).
    handed_out = [i for i, item in items.items() if not item.cancel]
    created = max(int(status.get("created") or 0), max(just_created, default=-1) + 1,
                  max(handed_out, default=-1) + 1)  # fmt: skip
    queued = sorted(i for i, item in items.items() if item.queued and i not in just_released)
    phases = {i: JobStatus(item.phase) for i, item in items.items() if i not in queued}
    for index in (just_created - set(items)) | just_released:
        phases[index] = JobStatus.PENDING
    unfinished = [i for i, phase in phases.items() if phase not in ENDED]
    failed = any(phase == JobStatus.FAILED for phase in phases.values())
    stopped = None
    if spec.get("cancel"):
        stopped = Reason.CANCELLED.value
    elif spec.get("failFast") and failed:
        stopped = Reason.BATCH_STOPPED.value
    create: tuple[int, ...] = ()
    release: tuple[int, ...] = ()
    if stopped is None:
        room = max(0, limit - len(unfinished))
        release = tuple(queued[:room])
        room -= len(release)
        create = tuple(range(created, min(total, created + room)))
    cancel: tuple[int, ...] = ()
    if spec.get("cancel") or (stopped and spec.get("cancelRunningOnFail")):
        cancel = tuple(sorted(i for i in unfinished if i in items and not items[i].cancel))
    counts = {s: sum(1 for p in phases.values() if p == s) for s in JobStatus}
    handed = created + len(create)
    waiting = total - handed  # never created yet
    waiting_again = 0 if stopped else len(queued) - len(release)
    done = (not unfinished and not create and not release and not waiting_again
            and (waiting == 0 or stopped is not None))  # fmt: skip
    pending = counts[JobStatus.PENDING] + len(create) + len(release)
    pending += 0 if stopped else waiting + waiting_again
    new_status: dict[str, Any] = {
        "created": handed,
        "succeeded": counts[JobStatus.SUCCEEDED],
        "failed": counts[JobStatus.FAILED],
        "cancelled": counts[JobStatus.CANCELLED],
        "running": counts[JobStatus.RUNNING],
        "pending": pending,
        "notStarted": waiting if stopped else 0,
        "phase": _phase(done, stopped, counts),
        # None clears it (a merge patch): a retry_failed() lets a stopped batch go on.
        "stopped": stopped,
    }
    if stopped:  # queued again, never to start: failed, as they ended
        new_status["failed"] += len(queued)
    unqueue = tuple(queued) if stopped else ()  # they stay FAILED, as they ended
    return BatchStep(create, cancel, new_status, release, unqueue)


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
