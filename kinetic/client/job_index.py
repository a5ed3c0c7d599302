"""The jobs a live view shows, a page at a time: ``kinetic top`` and ``kinetic dashboard``.

A view refreshes every second or two, and a store may hold 10,000 jobs. ``list_jobs()``
reads every job's record and state on each call; the index reads a job's record once
(handle.json is write-once) and a finished job's state once (a terminal state never
changes), so a refresh costs one listing of the store plus the states of the jobs still
pending or running. Filtering and sorting then work on memory and a page is a slice.

Backends with a listing of their own (the cluster's KineticJobs: one paginated request
that carries every state) are asked for it whole on each refresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kinetic.backends import get_backend
from kinetic.backends.backend_contract import Backend
from kinetic.client.handle import JobHandle
from kinetic.model.errors import SpecError
from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobState, JobStatus
from kinetic.spec import settings
from kinetic.store import ObjectNotFound, layout, open_store

DEFAULT_PAGE = 50
SORT_KEYS = ("created", "status", "function", "name", "duration", "attempts")


@dataclass(frozen=True)
class JobFilter:
    """What a view keeps: a status, substrings of the name (or id) and the function, the
    items of one batch, and (a workflow's jobs) a set of job ids."""

    status: JobStatus | None = None
    name: str = ""
    function: str = ""
    batch: str = ""
    job_ids: frozenset[str] | None = None

    def keeps(self, record: JobRecord, state: JobState) -> bool:
        if self.status is not None and state.status != self.status:
            return False
        if self.batch and (record.batch or {}).get("id") != self.batch:
            return False
        if self.job_ids is not None and record.job_id not in self.job_ids:
            return False
        if self.name:
            needle = self.name.lower()
            if needle not in record.job_id and needle not in (record.name or "").lower():
                return False
        return not self.function or self.function.lower() in record.function.lower()


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows (newest first unless sorted otherwise), how many
    jobs the filter kept in all, where the page starts, and every status's count."""

    rows: tuple[tuple[JobHandle, JobState], ...]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = field(default_factory=dict)


def sort_key(name: str) -> Callable[[tuple[JobRecord, JobState]], Any]:
    """The key a listing sorts on (pure); SpecError for a name not in SORT_KEYS."""
    keys: dict[str, Callable[[tuple[JobRecord, JobState]], Any]] = {
        "created": lambda row: row[0].created,
        "status": lambda row: (row[1].status.value, row[0].created),
        "function": lambda row: (row[0].function, row[0].created),
        "name": lambda row: (row[0].name or row[0].job_id, row[0].created),
        "duration": lambda row: (row[1].duration or 0.0, row[0].created),
        "attempts": lambda row: (row[1].attempts, row[0].created),
    }
    if name not in keys:
        raise SpecError("sort", name, f"one of {', '.join(SORT_KEYS)}")
    return keys[name]


class JobIndex:
    """A store's (or cluster's) jobs, kept between refreshes; safe to share across threads."""

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
        self._records: dict[str, JobRecord] = {}
        self._states: dict[str, JobState] = {}
        self._unfinished: set[str] = set()  # ids whose state may still change
        self._order: list[str] = []  # newest first; re-sorted only when jobs come or go
        self._rows: list[tuple[JobRecord, JobState]] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    @property
    def own_listing(self) -> bool:
        """Whether the backend lists its jobs itself (rather than the store listing them)."""
        return type(self.backend).list_jobs is not Backend.list_jobs

    def refresh(self) -> None:
        """Read what changed since the last refresh."""
        with self._refresh_lock:
            if self.own_listing:
                rows = self.backend.list_jobs(
                    store=self.store, namespace=self.namespace, all_namespaces=self.all_namespaces
                )
            else:
                found = self._store_rows()
                if found is None:
                    return  # nothing changed: the rows and counts stand
                rows = found
            counts: dict[str, int] = {}
            for _record, state in rows:
                counts[state.status.value] = counts.get(state.status.value, 0) + 1
            with self._lock:
                self._rows, self._counts = rows, counts

    def _store_rows(self) -> list[tuple[JobRecord, JobState]] | None:
        """The rows after reading the store, or None if no job came, went or changed."""
        st = open_store(self.store)
        ids = set(st.list_children(layout.JOBS))
        gone = self._records.keys() - ids
        for job_id in gone:
            self._records.pop(job_id, None)
            self._states.pop(job_id, None)
            self._unfinished.discard(job_id)
        added = 0
        for job_id in ids - self._records.keys():
            try:
                data = st.read_bytes(layout.handle_key(job_id))
                self._records[job_id] = JobRecord.from_json(data.decode())
            except (ObjectNotFound, ValueError):
                continue  # a job being created or deleted right now: next refresh
            self._unfinished.add(job_id)
            added += 1
        by_backend: dict[str, list[JobRecord]] = {}
        for job_id in self._unfinished:
            record = self._records[job_id]
            by_backend.setdefault(record.backend, []).append(record)
        changed = bool(gone or added)
        for name, group in by_backend.items():
            for record, state in zip(group, get_backend(name).states(group), strict=True):
                changed = changed or self._states.get(record.job_id) != state
                self._states[record.job_id] = state
                if state.status.is_terminal:
                    self._unfinished.discard(record.job_id)
        if not changed and self._rows:
            return None
        if gone or added or not self._order:
            self._order = sorted(self._records, key=lambda i: self._records[i].created,
                                 reverse=True)  # fmt: skip
        # NOT_FOUND: deleted while listing, or a submission not committed (never shown).
        return [(self._records[i], self._states[i]) for i in self._order
                if i in self._states and self._states[i].status != JobStatus.NOT_FOUND]  # fmt: skip

    def page(
        self,
        keep: JobFilter | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """One page of the jobs ``keep`` keeps, from the last refresh."""
        keep = keep or JobFilter()
        key = sort_key(sort)
        with self._lock:
            rows, counts = self._rows, dict(self._counts)
        kept = rows if keep == JobFilter() else [row for row in rows if keep.keeps(*row)]
        if sort != "created" or not descending:  # rows are kept newest first already
            kept = sorted(kept, key=key, reverse=descending)
        offset = max(0, min(offset, max(0, len(kept) - 1)))
        chosen = kept[offset : offset + limit]
        handles = tuple((_handle(record, state), state) for record, state in chosen)
        return Page(handles, len(kept), offset, limit, counts)

    def batch_counts(self) -> dict[str, dict[str, int]]:
        """Each batch's items listed at the last refresh, counted by status."""
        with self._lock:
            rows = self._rows
        found: dict[str, dict[str, int]] = {}
        for record, state in rows:
            if record.batch:
                counts = found.setdefault(str(record.batch.get("id")), {})
                counts[state.status.value] = counts.get(state.status.value, 0) + 1
        return found

    def find(self, job_id: str) -> tuple[JobHandle, JobState] | None:
        """A job of the last refresh, by id."""
        with self._lock:
            for record, state in self._rows:
                if record.job_id == job_id:
                    return _handle(record, state), state
        return None


def _handle(record: JobRecord, state: JobState) -> JobHandle:
    handle = JobHandle.from_record(record)
    handle.listed_state = state
    return handle
