"""Finding jobs from any process: ``kinetic.attach()``, ``kinetic.list_jobs()``, and
the rows of `kinetic jobs list`'s table (``list_table``).

The caller's side of a listing: the backend (or the store) returns records with their
states; each becomes a JobHandle carrying the state read then (``listed_state``).
"""

from __future__ import annotations

from kinetic.backends import get_backend
from kinetic.backends.backend_contract import Backend
from kinetic.backends.store_listing import store_records, store_table
from kinetic.client.handle import JobHandle, load_handle
from kinetic.model.errors import SpecError
from kinetic.model.status import JobStatus
from kinetic.spec import settings
from kinetic.store import layout
from kinetic.store.listing_index import Listed, listed_of


def attach(job_id: str, store: str | None = None) -> JobHandle:
    """A handle for an existing job, from any process that reaches its store."""
    layout.validate_job_id(job_id)
    return load_handle(job_id, store)


def parse_status_filter(status: JobStatus | str | None) -> JobStatus | None:
    """The status to keep, from a JobStatus or its name in any case; None keeps all."""
    if status is None or isinstance(status, JobStatus):
        return status
    if isinstance(status, str) and status.strip().upper() in JobStatus.__members__:
        return JobStatus(status.strip().upper())
    raise SpecError("status", status, f"one of {', '.join(s.value for s in JobStatus)}")


def list_jobs(
    *,
    store: str | None = None,
    status: JobStatus | str | None = None,
    limit: int | None = None,
    backend: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> list[JobHandle]:
    """Jobs newest first, finished ones included, as handles.

    Each handle's ``listed_state`` is its state when listed (the listing reads every state
    in bulk); ``status()`` asks again. With the kubernetes backend (argument or setting):
    the cluster's KineticJobs in ``namespace`` (default: the configured one) or in all
    namespaces. Otherwise: every job recorded in the store. Filters are keyword-only.
    """
    wanted = parse_status_filter(status)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SpecError("limit", limit, "a whole number from 1, or None for every job")
    chosen = get_backend(settings.resolve("backend", backend).value)
    uri = settings.resolve("store", store).value
    if type(chosen).list_jobs is Backend.list_jobs:
        # The store's listing (its index) filters and limits before building anything,
        # then builds the handles with their states in one pass.
        return store_records(
            uri, status=wanted, limit=limit, record_type=JobHandle, state_attribute="listed_state"
        )
    handles: list[JobHandle] = []
    records = chosen.list_jobs(store=uri, namespace=namespace, all_namespaces=all_namespaces)
    for record, state in records:
        if wanted is None or state.status == wanted:
            handle = JobHandle.from_record(record)
            handle.listed_state = state
            handles.append(handle)
    return handles[:limit] if limit else handles


def list_table(
    *,
    store: str | None = None,
    status: JobStatus | str | None = None,
    limit: int | None = None,
    batch: str = "",
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> list[Listed]:
    """``list_jobs``'s jobs as a table's rows (`kinetic jobs list`), newest first, or
    ``batch``'s items in index order. A store's listing reads the index's columns and
    decodes no record, so the table of 100,000 jobs costs little more than its SELECT;
    a cluster's listing is ``list_jobs``'s, converted."""
    wanted = parse_status_filter(status)
    chosen = get_backend(settings.resolve("backend", None).value)
    uri = settings.resolve("store", store).value
    if type(chosen).list_jobs is Backend.list_jobs:
        return store_table(uri, status=wanted, limit=limit, batch=batch)
    handles = list_jobs(store=uri, status=wanted, limit=None if batch else limit,
                        namespace=namespace, all_namespaces=all_namespaces)  # fmt: skip
    if batch:
        handles = [h for h in handles if (h.batch or {}).get("id") == batch]
        handles.sort(key=lambda h: (h.batch or {}).get("index", 0))
        handles = handles[:limit] if limit else handles
    return [listed_of(h, h.listed_state) for h in handles if h.listed_state is not None]
