"""What a batch's driver does next (pure): which items to start, to stop, to skip.

The local batch supervisor (kinetic.backends.batch_supervisor) calls ``plan`` on every
turn of its loop with what it sees; the outcome is a frozen value it then carries out.
Keeping the rules here means the concurrency limit, fail-fast and cancel have one
definition, testable without a process.
"""

from __future__ import annotations

from dataclasses import dataclass

from kinetic.model.reasons import Reason


@dataclass(frozen=True)
class BatchView:
    """What the driver sees now: items waiting (in index order), items started and not
    ended, whether any item failed for good, whether the batch was cancelled."""

    queued: tuple[int, ...]
    active: int
    failed: bool
    cancel_requested: bool


@dataclass(frozen=True)
class BatchOptions:
    max_concurrent: int
    fail_fast: bool
    cancel_running_on_fail: bool


@dataclass(frozen=True)
class Plan:
    launch: tuple[int, ...] = ()  # start these (never more than the free slots)
    skip: tuple[int, ...] = ()  # never start these: record them ended with skip_reason
    skip_reason: str | None = None
    stop_running: bool = False  # cancel every started item
    done: bool = False  # nothing waits and nothing runs: the driver may exit


def plan(view: BatchView, options: BatchOptions) -> Plan:
    stopping = view.cancel_requested or (view.failed and options.fail_fast)
    if stopping:
        reason = Reason.CANCELLED if view.cancel_requested else Reason.BATCH_STOPPED
        stop = view.cancel_requested or options.cancel_running_on_fail
        return Plan(skip=view.queued, skip_reason=reason, stop_running=stop and view.active > 0,
                    done=view.active == 0)  # fmt: skip
    free = max(0, options.max_concurrent - view.active)
    launch = view.queued[:free]
    return Plan(launch=launch, done=not view.queued and view.active == 0)
