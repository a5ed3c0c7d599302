"""What code running inside a job can ask: am I cancelled, where do outputs go, who am I."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

_cancel = threading.Event()


def cancel_event() -> threading.Event:
    """Set when the job is asked to stop (cancel or timeout); wait on it or poll it."""
    return _cancel


def cancelled() -> bool:
    """True once the job has been asked to stop. Return soon after: the grace period runs."""
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


def install_cancel_handler() -> None:
    """In a job: SIGTERM (the runner's stop signal) sets the cancel event instead of killing."""

    def on_term(signum, frame):
        _cancel.set()

    signal.signal(signal.SIGTERM, on_term)
