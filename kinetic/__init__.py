"""Kinetic: run Python functions as detached jobs, locally or on Kubernetes.

    import kinetic

    @kinetic.run(accelerator="l4")
    def train(epochs): ...

    train(3)                      # blocks, streams output, returns the value
    job = train.run_async(3)      # returns a JobHandle at once
    kinetic.attach(job.job_id)    # from anywhere that reaches the store

Attributes are imported lazily so that ``import kinetic`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BackendError,
    IntegrityError,
    InvalidJobIdError,
    JobCancelledError,
    JobExistsError,
    JobFailedError,
    JobNotFoundError,
    KineticError,
    RemoteError,
    SerializationError,
    SpecError,
    StorageError,
)
from .status import JobState, JobStatus

__version__ = "0.1.0"

_LAZY = {
    "run": "kinetic.decorator",
    "RemoteFunction": "kinetic.decorator",
    "JobHandle": "kinetic.handle",
    "JobSpec": "kinetic.spec",
    "attach": "kinetic.jobs",
    "list_jobs": "kinetic.jobs",
    "submit": "kinetic.jobs",
    "attempt": "kinetic.context",
    "cancelled": "kinetic.context",
    "cancel_event": "kinetic.context",
    "output_dir": "kinetic.context",
    "report_progress": "kinetic.progress",
    "Port": "kinetic.ports",
    "Endpoint": "kinetic.ports",
}

if TYPE_CHECKING:
    from .context import attempt, cancel_event, cancelled, output_dir
    from .decorator import RemoteFunction, run
    from .handle import JobHandle
    from .jobs import attach, list_jobs
    from .jobs import submit_command as submit
    from .ports import Endpoint, Port
    from .progress import report_progress
    from .spec import JobSpec


def __getattr__(name: str) -> Any:
    if name == "submit":  # the public name of jobs.submit_command
        return importlib.import_module("kinetic.jobs").submit_command
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kinetic' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "Endpoint",
    "IntegrityError",
    "InvalidJobIdError",
    "JobCancelledError",
    "JobExistsError",
    "JobFailedError",
    "JobHandle",
    "JobNotFoundError",
    "JobSpec",
    "JobState",
    "JobStatus",
    "KineticError",
    "Port",
    "RemoteError",
    "RemoteFunction",
    "SerializationError",
    "SpecError",
    "StorageError",
    "attach",
    "attempt",
    "cancel_event",
    "cancelled",
    "list_jobs",
    "output_dir",
    "report_progress",
    "run",
    "submit",
]
