"""Finding jobs from any process: ``kinetic.attach()`` and ``kinetic.list_jobs()``."""

from __future__ import annotations

from kinetic.backends import get_backend
from kinetic.client.handle import JobHandle, load_handle
from kinetic.model.status import JobState, JobStatus
from kinetic.spec import settings
from kinetic.store import layout


def attach(job_id: str, store: str | None = None) -> JobHandle:
    """A handle for an existing job, from any process that reaches its store."""
    layout.validate_job_id(job_id)
    return load_handle(job_id, store)


def list_jobs(
    store: str | None = None,
    status: JobStatus | str | None = None,
    limit: int | None = None,
    *,
    backend: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> list[tuple[JobHandle, JobState]]:
    """Jobs with their states, newest first, finished ones included.

    With the kubernetes backend (argument or setting): the cluster's KineticJobs in
    ``namespace`` (default: the configured one) or in all namespaces. Otherwise: every job
    recorded in the store.
    """
    chosen = get_backend(settings.resolve("backend", backend).value)
    records = chosen.list_jobs(
        store=settings.resolve("store", store).value,
        namespace=namespace,
        all_namespaces=all_namespaces,
    )
    rows = [(JobHandle.from_record(r), s) for r, s in records]
    wanted = JobStatus(status.upper() if isinstance(status, str) else status) if status else None
    rows = [r for r in rows if wanted is None or r[1].status == wanted]
    return rows[:limit] if limit else rows
