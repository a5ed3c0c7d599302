"""Listing the jobs a store holds, with their states asked of each backend in bulk.

The default ``Backend.list_jobs``, and what ``kinetic jobs history`` and ``queue`` read:
the store is the list of every job submitted to it, whichever backend runs them. This
machine's index of it (``kinetic.store.listing_index``) is brought up to date first: one
listing of the store's jobs; the records of jobs not seen before; and the states of those
and of the jobs not yet ended, asked of their backends in bulk. Ended jobs are answered
from the index (their records never change).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import marshal
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobState, JobStatus
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.store.index_queries import BATCH_ORDER, EVERY, NEWEST, kept
from kinetic.store.listing_index import DEFERRED, JobIndex, Listed

R = TypeVar("R", bound=JobRecord)
_READERS = 16  # parallel reads of new records from a bucket (a directory is read in turn)


def store_rows(
    uri: str,
    *,
    status: JobStatus | None = None,
    limit: int | None = None,
    record_type: type[R] = JobRecord,  # type: ignore[assignment]
) -> list[tuple[R, JobState]]:
    """Every job recorded in the store at ``uri`` (``status``'s only, the newest ``limit``
    only), newest first, with its state; records built as ``record_type`` (a subclass of
    JobRecord: the caller's handle, built once rather than converted)."""
    records, states = _listed(uri, status, limit, record_type, None)
    return list(zip(records, states, strict=True))


def store_records(
    uri: str,
    *,
    status: JobStatus | None = None,
    limit: int | None = None,
    record_type: type[R],
    state_attribute: str,
) -> list[R]:
    """``store_rows``'s records alone, each holding its state as ``state_attribute`` (a
    field of ``record_type``: the handle's ``listed_state``), set as it is built."""
    return _listed(uri, status, limit, record_type, state_attribute)[0]


def store_table(
    uri: str, *, status: JobStatus | None = None, limit: int | None = None, batch: str = ""
) -> list[Listed]:
    """``store_rows``'s jobs as a table's rows, from the index's columns alone (nothing
    decoded: `kinetic jobs list` over 100,000 jobs); ``batch``: that batch's items only,
    in their index order."""
    where = kept(status.value if status else None, batch=batch)
    with store_index(uri) as index:
        return index.listed(where, BATCH_ORDER if batch else NEWEST, limit)


def _listed(
    uri: str,
    status: JobStatus | None,
    limit: int | None,
    record_type: type[R],
    state_attribute: str | None,
) -> tuple[list[R], list[JobState]]:
    where = kept(status.value) if status else EVERY
    with store_index(uri) as index:
        found = index.encoded(where, limit=limit)
    # 100,000 records and states built with the cycle collector on would wake it hundreds
    # of times to scan them all again (none is part of a cycle); so the lists handed back
    # are built whole while it sleeps, and nothing is converted after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loads, records, states = marshal.loads, [], []
        for head_and_state, body in found:
            head, state_data = loads(head_and_state)
            record, state = record_of(head, body, record_type), state_of(state_data)
            if state_attribute is not None:
                record.__dict__[state_attribute] = state  # a plain field: no setattr hook
            records.append(record)
            states.append(state)
        return records, states
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def store_index(uri: str) -> Iterator[JobIndex]:
    """``synced_index(uri)``, closed when done."""
    index = synced_index(uri)
    try:
        yield index
    finally:
        index.close()


def synced_index(uri: str, earlier: JobIndex | None = None) -> JobIndex:
    """The index of the store at ``uri``, brought up to date with it: this machine's file,
    or (when it cannot keep one) one in memory, built from the store for this call, or
    ``earlier``, an earlier call's in memory, brought up to date. The caller closes it."""
    store = open_store(uri)
    if earlier is not None and earlier.in_memory:
        refresh(store, earlier)
        return earlier
    index = JobIndex.open(store.uri)
    if index is not None:
        try:
            refresh(store, index)
            return index
        except sqlite3.Error:  # a damaged file: the store is the truth, read it all
            index.close()
        except BaseException:
            index.close()
            raise
    index = JobIndex.open(store.uri, in_memory=True)
    assert index is not None  # an in-memory database needs no disk
    try:
        refresh(store, index)
    except BaseException:
        index.close()
        raise
    return index


def refresh(store: Store, index: JobIndex) -> None:
    """Bring ``index`` up to date with ``store``: forget deleted jobs, read new ones, and
    ask again the state of every job that has not ended.

    The store's list of jobs is read every time; when its digest is the one recorded
    after the last complete refresh, no job came or went, and only unfinished jobs are
    read (the common case: 100,000 ended jobs cost one listing and no row lookups)."""
    present = store.list_children(layout.JOBS)
    digest = hashlib.sha256("\n".join(present).encode()).hexdigest()
    recorded = index.listing_digest()
    if digest == recorded:
        gone, fresh, unfinished = [], [], index.unfinished()
    else:
        known, listed = index.terminal_flags(), set(present)
        gone = [job for job in known if job not in listed]
        fresh = _read_records(store, [job for job in present if job not in known])
        unfinished = [job for job, final in known.items() if not final and job in listed]
    rows = _with_states(fresh + index.records(unfinished))
    # NOT_FOUND: deleted while listing, or a submission not committed (never shown).
    dropped = [r.job_id for r, s in rows if s.status == JobStatus.NOT_FOUND]
    index.forget(gone + dropped)
    index.put((r, s) for r, s in rows if s.status != JobStatus.NOT_FOUND)
    # Only a listing whose every job is indexed may spare the next refresh its diff: a
    # job being created (no record yet) or not committed must be looked at again.
    complete = index.matching() == len(present)  # the index holds only listed jobs now
    if (digest if complete else None) != recorded:
        index.set_listing_digest(digest if complete else None)


def _read_records(store: Store, job_ids: list[str]) -> list[JobRecord]:
    def read(job_id: str) -> JobRecord | None:
        try:
            return JobRecord.from_json(store.read_bytes(layout.handle_key(job_id)).decode())
        except (ObjectNotFound, ValueError):
            return None  # a job being created or deleted right now

    if len(job_ids) > 1 and not store.uri.startswith("file:"):
        with ThreadPoolExecutor(_READERS) as pool:
            found = list(pool.map(read, job_ids))
    else:
        found = [read(job) for job in job_ids]
    return [r for r in found if r is not None]


def _with_states(records: list[JobRecord]) -> list[tuple[JobRecord, JobState]]:
    """Each record with its state, asked of its backend in bulk."""
    from kinetic.backends import get_backend

    by_backend: dict[str, list[JobRecord]] = {}
    for r in records:
        by_backend.setdefault(r.backend, []).append(r)
    rows: list[tuple[JobRecord, JobState]] = []
    for name, group in by_backend.items():
        rows += zip(group, get_backend(name).states(group), strict=True)
    return rows


# -- from the index's dicts to objects, cheaply (a listing may build 100,000 of each) -------
_TIMES = ("created", "started", "finished")


_STATUS = {s.value: s for s in JobStatus}  # a dict lookup: the Enum call costs several
_STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(JobState))
_STATE_NONES = {f.name: None for f in dataclasses.fields(JobState) if f.default is None}


def record_of(head: dict[str, Any], body: bytes, record_type: type[R]) -> R:
    """A record from the index: its head set now (the index leaves out the fields that
    are None), its body (the DEFERRED dicts) decoded by ``JobRecord.__getattr__`` when
    first read."""
    if _required(record_type) <= head.keys():  # type: ignore[arg-type]
        record = record_type.__new__(record_type)
        # The head is this call's own dict (fresh from marshal): it becomes the
        # instance's, uncopied; a field left out (None) falls to its class default.
        head["_deferred"] = body
        record.__dict__ = head
        return record
    data = {**head, **marshal.loads(body)}  # written by another version: fields differ
    return record_type.from_dict(data)


@functools.cache
def _required(record_type: type) -> frozenset[str]:
    """The fields a record built without ``__init__`` must be given: those without a
    class-level default, except the deferred ones (``__getattr__`` provides them)."""
    fields = dataclasses.fields(record_type)
    return frozenset(f.name for f in fields if f.default is dataclasses.MISSING) - set(DEFERRED)


def state_of(data: dict[str, Any]) -> JobState:
    """``JobState.from_dict`` without its per-call work: the index wrote ``data`` from a
    JobState's ``to_dict`` less its Nones, so only those, the status and the times need
    setting."""
    values = {**_STATE_NONES, **data}
    if values.keys() != _STATE_FIELDS:  # written by another version: its fields differ
        return JobState.from_dict(values)
    values["status"] = _STATUS[data["status"]]
    for name in _TIMES:
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    # Frozen dataclasses set each field through object.__setattr__: filling the instance
    # at once is several times cheaper, and JobState has no __post_init__ to skip.
    state = object.__new__(JobState)
    object.__setattr__(state, "__dict__", values)
    return state
