"""What code running inside a job can ask: am I cancelled, where do outputs go, who am I.

Also how a job is stopped (kinetic.job.worker installs it): the supervisor's stop signal
(SIGTERM, on cancel or timeout) interrupts the function's main thread with
KeyboardInterrupt, as Ctrl-C does to a Python program, so ``finally`` and ``with`` blocks
run and an ordinary loop stops at once. Code that asks ``cancelled()`` or
``cancel_event()`` has said it stops by itself: it is not interrupted, the event is set,
and it has the grace period to return.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

_cancel = threading.Event()
_checks = False  # the job's code has asked about cancellation: it stops by itself
_in_function = False  # the function runs (not the payload's loading, not the result's storing)
_cancel_seen = False  # the stop signal came while the function ran


class JobInterrupted(KeyboardInterrupt):
    """Raised in a job's main thread when the job is cancelled or reaches its timeout."""


def cancel_event() -> threading.Event:
    """Set when the job is asked to stop (cancel or timeout); wait on it or poll it.

    Asking for it says the job stops by itself: it is then not interrupted."""
    global _checks
    _checks = True
    return _cancel


def cancelled() -> bool:
    """True once the job has been asked to stop. Return soon after: the grace period runs.

    Asking says the job stops by itself: it is then not interrupted."""
    global _checks
    _checks = True
    return _cancel.is_set()


def stop_asked() -> bool:
    """Whether the job was asked to stop, for Kinetic's own waits (kinetic.job.debugger):
    unlike ``cancelled()`` it does not say the job's code stops by itself."""
    return _cancel.is_set()


def job_id() -> str | None:
    return os.environ.get("KINETIC_JOB_ID")


def attempt() -> int:
    """Which attempt of the job this is: 1, then 2… when it is retried (``retries``)."""
    return int(os.environ.get("KINETIC_ATTEMPT") or 1)


def output_dir() -> Path | None:
    """Files written here are kept with the job (``handle.outputs()``), success or failure."""
    value = os.environ.get("KINETIC_OUTPUT_DIR")
    return Path(value) if value else None


def function_running(running: bool) -> None:
    """The worker says when the function starts and returns: only then may it be interrupted
    (a stop signal after its return must not turn a stored success into a failure)."""
    global _in_function, _cancel_seen
    _in_function = running
    if running and _cancel.is_set():  # asked to stop while it was being set up
        _cancel_seen = True
        if not _checks:
            raise JobInterrupted("the job was asked to stop before its function started")


def cancel_seen() -> bool:
    """Whether the stop signal came while the function ran."""
    return _cancel_seen


def install_cancel_handler() -> None:
    """In a job: SIGTERM (the runner's stop signal) sets the cancel event and, unless the
    job checks the event itself, interrupts the function's main thread."""

    def on_term(signum, frame):
        global _cancel_seen
        _cancel.set()
        if _in_function:
            _cancel_seen = True
            if not _checks:
                raise JobInterrupted("the job was asked to stop (cancel or timeout)")

    signal.signal(signal.SIGTERM, on_term)
