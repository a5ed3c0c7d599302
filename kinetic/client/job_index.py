"""The jobs a live view shows, a page at a time: ``kinetic top`` and ``kinetic dashboard``.

A thin paging view over the one job index (``kinetic.store.listing_index``, the SQLite
file ``list_jobs()`` and ``kinetic jobs history`` read too): a refresh brings that index
up to date with the store (``kinetic.backends.store_listing``: one listing of the store
plus the states of the jobs still pending or running), and a page is one SQL query that
filters, sorts and slices there, so only the page's rows become handles, however many
jobs the store holds.

Backends with a listing of their own (the cluster's KineticJobs: one paginated request
that carries every state) are asked for it whole on each refresh; their rows go into an
index in memory, paged by the same queries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kinetic.backends import get_backend
from kinetic.backends.backend_contract import Backend
from kinetic.backends.store_listing import record_of, state_of, synced_index
from kinetic.client.handle import JobHandle
from kinetic.model.status import JobState, JobStatus
from kinetic.spec import settings
from kinetic.store.index_queries import SORT_KEYS, kept, order_by
from kinetic.store.listing_index import JobIndex

DEFAULT_PAGE = 50
__all__ = ["DEFAULT_PAGE", "SORT_KEYS", "JobFilter", "JobView", "Page"]


@dataclass(frozen=True)
class JobFilter:
    """What a view keeps: a status, substrings of the name (or id) and the function, the
    items of one batch, and (a workflow's jobs) a set of job ids."""

    status: JobStatus | None = None
    name: str = ""
    function: str = ""
    batch: str = ""
    job_ids: frozenset[str] | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows (newest first unless sorted otherwise), how many
    jobs the filter kept in all, where the page starts, and every status's count."""

    rows: tuple[tuple[JobHandle, JobState], ...]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = field(default_factory=dict)


class JobView:
    """A store's (or cluster's) jobs as of the last refresh; safe to share across threads
    (a dashboard refreshes in one and pages in another)."""

    def __init__(
        self,
        *,
        store: str | None = None,
        backend: str | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
    ) -> None:
        self.store = settings.resolve("store", store).value
        self.backend = get_backend(settings.resolve("backend", backend).value)
        self.namespace, self.all_namespaces = namespace, all_namespaces
        self._index: JobIndex | None = None  # the last refresh's; read under _lock
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    @property
    def own_listing(self) -> bool:
        """Whether the backend lists its jobs itself (rather than the store listing them)."""
        return type(self.backend).list_jobs is not Backend.list_jobs

    def refresh(self) -> None:
        """Read what changed since the last refresh (pages keep being served meanwhile:
        the refresh works on its own connection, swapped in when done)."""
        with self._refresh_lock:
            if self.own_listing:
                index = self._listed()
            elif self._index is not None and self._index.in_memory:
                # No file on this machine: the one in memory is kept, not read whole again
                # (pages wait meanwhile, as a connection serves one caller at a time).
                with self._lock:
                    index = synced_index(self.store, self._index)
            else:
                index = synced_index(self.store)
            counts = index.by_status()
            with self._lock:
                old, self._index, self._counts = self._index, index, counts
            if old is not None and old is not index:
                old.close()

    def _listed(self) -> JobIndex:
        rows = self.backend.list_jobs(
            store=self.store, namespace=self.namespace, all_namespaces=self.all_namespaces
        )
        index = JobIndex.open(self.store, in_memory=True)
        assert index is not None  # an in-memory database needs no disk
        # NOT_FOUND: deleted while listing, or a submission not committed (never shown).
        index.put((r, s) for r, s in rows if s.status != JobStatus.NOT_FOUND)
        return index

    def page(
        self,
        keep: JobFilter | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """One page of the jobs ``keep`` keeps, from the last refresh (SpecError for a
        ``sort`` not in SORT_KEYS)."""
        keep = keep or JobFilter()
        order = order_by(sort, descending)
        status = keep.status.value if keep.status else None
        where = kept(status, keep.name, keep.function, keep.batch, keep.job_ids)
        with self._lock:
            if self._index is None:  # never refreshed
                return Page((), 0, 0, limit, {})
            total = self._index.matching(where)
            offset = max(0, min(offset, max(0, total - 1)))
            found = self._index.rows(where, order, limit=limit, offset=offset)
            counts = dict(self._counts)
        return Page(tuple(_handle(*row) for row in found), total, offset, limit, counts)

    def batch_counts(self) -> dict[str, dict[str, int]]:
        """Each batch's items listed at the last refresh, counted by status."""
        with self._lock:
            return {} if self._index is None else self._index.batch_counts()

    def find(self, job_id: str) -> tuple[JobHandle, JobState] | None:
        """A job of the last refresh, by id."""
        with self._lock:
            found = None if self._index is None else self._index.row(job_id)
        return None if found is None else _handle(*found)


def _handle(head_and_state: tuple[dict, dict], body: bytes) -> tuple[JobHandle, JobState]:
    head, state_data = head_and_state
    handle, state = record_of(head, body, JobHandle), state_of(state_data)
    handle.listed_state = state
    return handle, state
