"""WorkflowHandle: a workflow as the caller sees it, from its record in the store.

Where it sits: ``kinetic.workflow.run`` returns one; ``attach_workflow(id)`` finds one
again from any machine (the record is ``workflows/ID/workflow.json``, see
kinetic.model.workflow_record); `kinetic workflow …` uses them. Everything it says is read
from the jobs' own states: the workflow has no process of its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from kinetic.client.handle import JobHandle
from kinetic.model.errors import JobNotFoundError
from kinetic.model.status import JobState, JobStatus
from kinetic.model.workflow_record import WorkflowRecord
from kinetic.store import ObjectNotFound, layout, open_store


@dataclass(frozen=True)
class WorkflowStatus:
    """The workflow's phase (a JobStatus) and each job's state, by name."""

    phase: JobStatus
    jobs: dict[str, JobState] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.phase.is_terminal


def workflow_phase(states: list[JobState]) -> JobStatus:
    """RUNNING while any job may still run (PENDING if none has started); once all have
    ended: FAILED if any failed, else CANCELLED if any was cancelled, else SUCCEEDED."""
    if any(not s.status.is_terminal for s in states):
        started = any(s.status == JobStatus.RUNNING or s.started for s in states)
        return JobStatus.RUNNING if started else JobStatus.PENDING
    found = {s.status for s in states}
    for phase in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.NOT_FOUND):
        if phase in found:
            return phase
    return JobStatus.SUCCEEDED


class WorkflowHandle:
    def __init__(self, record: WorkflowRecord):
        self.record = record

    @property
    def workflow_id(self) -> str:
        return self.record.workflow_id

    @property
    def name(self) -> str:
        return self.record.name

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.workflow_id} {self.name} ({len(self.record.jobs)} jobs)>"

    # -- reading -------------------------------------------------------------------------------
    def jobs(self) -> dict[str, JobHandle]:
        """Each job's handle, by name, in dependency order (the latest run of each)."""
        from kinetic.client.workflow_run import load_job

        return {name: load_job(self.record, self.record.jobs[name]) for name in self.record.order}

    def status(self) -> WorkflowStatus:
        from kinetic.backends import get_backend

        handles = self.jobs()
        backend = get_backend(self.record.backend)
        states = dict(zip(handles, backend.states(list(handles.values())), strict=True))
        return WorkflowStatus(workflow_phase(list(states.values())), states)

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> WorkflowStatus:
        """Block until every job has ended; TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status.is_terminal:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {self.workflow_id} still {status.phase.value} "
                                   f"after {timeout}s")  # fmt: skip
            time.sleep(poll)

    def results(self, timeout: float | None = None) -> dict[str, Any]:
        """The value of every job that succeeded, by name (waits for the end first). The
        jobs' records are kept (a retry reuses them): cleanup() removes them."""
        status = self.wait(timeout)
        handles = self.jobs()
        return {
            name: handles[name].result(cleanup=False)
            for name, state in status.jobs.items()
            if state.status == JobStatus.SUCCEEDED
        }

    def notifications(self, status: WorkflowStatus | None = None) -> list[dict[str, Any]]:
        """The delivery records of the workflow's one summary for its latest run (hosts only,
        never a URL): ``[]`` until its last job has ended (or when no summary is wanted)."""
        if not self.record.notify_hosts:
            return []
        generation = self.record.generation
        if self.record.backend == "kubernetes":  # on the member that sent it (the operator)
            for state in (status or self.status()).jobs.values():
                summary = state.extra.get("workflow_summary") or {}
                if summary.get("generation") == generation:
                    return list(summary.get("notifications") or [])
            return []
        key = layout.workflow_summary_key(self.workflow_id, generation)
        try:  # the runner of the member that sent it recorded it in the store
            found = json.loads(open_store(self.record.store).read_bytes(key))
        except (ObjectNotFound, ValueError):
            return []
        return list(found.get("notifications") or [])

    def graph(self) -> dict[str, Any]:
        """Nodes (each job's name, id and state) and edges (dependency → dependent)."""
        status = self.status()
        nodes = []
        for name, state in status.jobs.items():
            nodes.append({
                "name": name, "job_id": self.record.jobs[name], "status": state.status.value,
                "reason": state.reason, "message": state.message, "duration": state.duration,
            })  # fmt: skip
        return {
            "workflow_id": self.workflow_id, "name": self.name, "phase": status.phase.value,
            "nodes": nodes, "edges": [list(e) for e in self.record.edges()],
            "notify_hosts": list(self.record.notify_hosts), "notify_on": self.record.notify_on,
            "notifications": self.notifications(status),
        }  # fmt: skip

    # -- control --------------------------------------------------------------------------------
    def cancel(self, wait: bool = True, timeout: float | None = None) -> WorkflowStatus:
        """Cancel every job that has not ended (the waiting ones first: none starts)."""
        handles = self.jobs()
        for name in reversed(self.record.order):
            handle = handles[name]
            if not handle.state().status.is_terminal:
                handle.cancel(wait=False)
        if wait:
            for handle in handles.values():
                handle._backend.wait_stopped(handle, timeout, slack=15.0, poll=0.2)
        return self.status()

    def retry(self) -> WorkflowHandle:
        """Run again the failed and cancelled jobs and every job below them; the others'
        stored results are reused. This handle then follows the new run."""
        from kinetic.client.workflow_run import retry_workflow

        self.record = retry_workflow(self.record)
        return self

    def cleanup(self) -> None:
        """Remove every job of the workflow (every run of it) and its record."""
        ids = list(self.record.jobs.values())
        for entry in self.record.history:
            ids += list((entry.get("replaced") or {}).values())
        from kinetic.client.workflow_run import load_job

        for job_id in dict.fromkeys(ids):
            handle = load_job(self.record, job_id)
            if handle.state().status != JobStatus.NOT_FOUND:
                handle.cleanup()
        open_store(self.record.store).delete_prefix(
            layout.workflow_key(self.workflow_id).rpartition("/")[0]
        )
        from kinetic.system import notify_keep

        notify_keep.forget(self.record.store, self.workflow_id)


def attach_workflow(workflow_id: str, store: str | None = None) -> WorkflowHandle:
    """The workflow recorded as ``workflow_id`` in ``store`` (default: the configured one)."""
    from kinetic.spec import settings

    st = open_store(settings.resolve("store", store).value)
    try:
        data = st.read_bytes(layout.workflow_key(workflow_id))
    except ObjectNotFound:
        raise JobNotFoundError(workflow_id, st.uri) from None
    return WorkflowHandle(WorkflowRecord.from_json(data))


def list_workflows(store: str | None = None) -> list[WorkflowHandle]:
    """Every workflow recorded in ``store``, newest first."""
    from kinetic.spec import settings

    st = open_store(settings.resolve("store", store).value)
    found = []
    for workflow_id in st.list_children(layout.WORKFLOWS):
        try:
            found.append(WorkflowRecord.from_json(st.read_bytes(layout.workflow_key(workflow_id))))
        except (ObjectNotFound, ValueError):
            continue
    found.sort(key=lambda r: r.created, reverse=True)
    return [WorkflowHandle(r) for r in found]
