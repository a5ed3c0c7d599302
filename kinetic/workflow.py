"""``kinetic.workflow``: workflows from a YAML file (docs/pipelines.md).

    handle = kinetic.workflow.run("pipeline.yaml")   # validated whole, then submitted
    handle.status(); handle.wait(); handle.results(); handle.retry()
    kinetic.workflow.attach(handle.workflow_id)       # from anywhere, any time later

The façade over kinetic.client.workflow_run (submission, retry) and
kinetic.client.workflow_handle (the handle, attach, list).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from kinetic.client.workflow_handle import (
    WorkflowHandle,
    WorkflowStatus,
    attach_workflow,
    list_workflows,
)


def run(
    path_or_text: str | os.PathLike,
    *,
    store: str | None = None,
    backend: str | None = None,
    notify: Sequence[str] | None = None,
    notify_on: Sequence[str] | None = None,
) -> WorkflowHandle:
    """Validate the whole file (a SpecError names every problem: job and field), then
    submit its jobs; returns once every job is submitted, not when they end. ``notify`` /
    ``notify_on``: the URLs (and ends) of the workflow's one summary, over the file's."""
    from kinetic.client.workflow_run import run_workflow

    record = run_workflow(path_or_text, store=store, backend=backend, notify=notify,
                          notify_on=notify_on)  # fmt: skip
    return WorkflowHandle(record)


attach = attach_workflow
list = list_workflows

__all__ = ["WorkflowHandle", "WorkflowStatus", "attach", "attach_workflow", "list", "run"]
