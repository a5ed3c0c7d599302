"""Finding jobs from any process: ``kinetic.attach()`` and ``kinetic.list_jobs()``."""

from __future__ import annotations

from kinetic.backends import get_backend
from kinetic.client.handle import JobHandle, load_handle
from kinetic.model.status import JobState, JobStatus
from kinetic.spec import settings
from kinetic.store import ObjectNotFound, Store, layout, open_store


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
    if settings.resolve("backend", backend).value == "kubernetes":
        rows = get_backend("kubernetes").list_jobs(namespace, all_namespaces)  # type: ignore[attr-defined]
    else:
        rows = _store_rows(open_store(settings.resolve("store", store).value))
    wanted = JobStatus(status.upper() if isinstance(status, str) else status) if status else None
    rows = [r for r in rows if wanted is None or r[1].status == wanted]
    return rows[:limit] if limit else rows


def _store_rows(st: Store) -> list[tuple[JobHandle, JobState]]:
    """Every job recorded in the store, newest first, with states asked of each backend in
    bulk."""
    handles = []
    for job_id in st.list_children(layout.JOBS):
        try:
            handles.append(JobHandle.from_json(st.read_bytes(layout.handle_key(job_id)).decode()))
        except (ObjectNotFound, ValueError):
            continue  # a job being created or deleted right now
    handles.sort(key=lambda h: h.created, reverse=True)
    by_backend: dict[str, list[JobHandle]] = {}
    for h in handles:
        by_backend.setdefault(h.backend, []).append(h)
    states: dict[str, JobState] = {}
    for name, group in by_backend.items():
        for h, s in zip(group, get_backend(name).states(group), strict=True):
            states[h.job_id] = s
    return [(h, states[h.job_id]) for h in handles]
