"""What ``workflows/ID/workflow.json`` holds: a workflow's jobs, by name (pure data).

Written by kinetic.client.workflow_run when a workflow is submitted and again when it is
retried (the re-run jobs' new ids replace the old, which stay in ``history``); read by
``attach_workflow``, `kinetic workflow …` and the WorkflowHandle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinetic.model.json_record import JsonRecord


@dataclass
class WorkflowRecord(JsonRecord):
    workflow_id: str
    name: str
    store: str
    backend: str
    created: str
    source: str  # the workflow file's text: retry plans from it again
    jobs: dict[str, str] = field(default_factory=dict)  # job name -> job id (latest run)
    depends_on: dict[str, list[str]] = field(default_factory=dict)  # name -> names
    order: list[str] = field(default_factory=list)  # names, each after its dependencies
    # Each retry: {"at": time, "replaced": {name: the job id it replaced}}.
    history: list[dict[str, Any]] = field(default_factory=list)
    # notify: the hosts of the URLs its one summary goes to (never a URL), and its events.
    notify_hosts: list[str] = field(default_factory=list)
    notify_on: list[str] | None = None

    @property
    def generation(self) -> int:
        """0 for the first run, then one more per retry: each sends its own summary."""
        return len(self.history)

    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs, by name."""
        return [(dep, name) for name in self.order for dep in self.depends_on.get(name, [])]
