"""Kinetic: run Python functions as detached jobs, locally or on Kubernetes.

    import kinetic

    @kinetic.run(accelerator="l4")
    def train(epochs): ...

    train(3)                      # blocks, streams output, returns the value
    job = train.run_async(3)      # returns a JobHandle at once
    kinetic.attach(job.job_id)    # from anywhere that reaches the store

    for j in kinetic.list_jobs():   # newest first: JobHandles, with the state listed
        print(j.job_id, j.func_name, j.status().value)

Attributes are imported lazily so that ``import kinetic`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kinetic.model.errors import (
    BackendError,
    BatchError,
    IntegrityError,
    InvalidJobIdError,
    JobCancelledError,
    JobExistsError,
    JobFailedError,
    JobNotFoundError,
    KineticError,
    RemoteError,
    RetryRefusedError,
    SerializationError,
    SpecError,
    StorageError,
    VersionSkewError,
)
from kinetic.model.status import JobState, JobStatus

__version__ = "0.1.0"

_LAZY = {
    "run": "kinetic.client.decorator",
    "RemoteFunction": "kinetic.client.decorator",
    "JobHandle": "kinetic.client.handle",
    "JobSpec": "kinetic.spec.job_spec",
    "attach": "kinetic.client.listing",
    "list_jobs": "kinetic.client.listing",
    "submit": "kinetic.client.submit",
    "BatchHandle": "kinetic.client.batch_handle",
    "attach_batch": "kinetic.client.batch_lookup",
    "list_batches": "kinetic.client.batch_lookup",
    "batch_index": "kinetic.job.batch_item",
    "attempt": "kinetic.job.context",
    "cancelled": "kinetic.job.context",
    "cancel_event": "kinetic.job.context",
    "output_dir": "kinetic.job.context",
    "report_progress": "kinetic.job.progress_writer",
    "Port": "kinetic.spec.ports",
    "Endpoint": "kinetic.model.endpoint",
    "attach_workflow": "kinetic.client.workflow_handle",
}

if TYPE_CHECKING:
    from kinetic.client.batch_handle import BatchHandle
    from kinetic.client.batch_lookup import attach_batch, list_batches
    from kinetic.client.decorator import RemoteFunction, run
    from kinetic.client.handle import JobHandle
    from kinetic.client.listing import attach, list_jobs
    from kinetic.client.submit import submit_command as submit
    from kinetic.client.workflow_handle import attach_workflow
    from kinetic.job.batch_item import batch_index
    from kinetic.job.context import attempt, cancel_event, cancelled, output_dir
    from kinetic.job.progress_writer import report_progress
    from kinetic.model.endpoint import Endpoint
    from kinetic.spec.job_spec import JobSpec
    from kinetic.spec.ports import Port


def __getattr__(name: str) -> Any:
    if name == "submit":  # the public name of kinetic.client.submit.submit_command
        return importlib.import_module("kinetic.client.submit").submit_command
    if name == "job_status":  # keras-team/kinetic's module of JobStatus
        return importlib.import_module("kinetic.job_status")
    if name == "workflow":  # kinetic.workflow.run(...): workflows from YAML
        return importlib.import_module("kinetic.workflow")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kinetic' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "BatchError",
    "BatchHandle",
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
    "RetryRefusedError",
    "SerializationError",
    "SpecError",
    "StorageError",
    "VersionSkewError",
    "attach",
    "attach_batch",
    "attach_workflow",
    "attempt",
    "batch_index",
    "cancel_event",
    "cancelled",
    "list_batches",
    "list_jobs",
    "output_dir",
    "report_progress",
    "run",
    "submit",
]
