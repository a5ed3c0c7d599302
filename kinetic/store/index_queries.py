"""Which rows of a store's job index a caller wants, and in which order, as SQL.

Where it sits: ``kinetic.store.listing_index`` runs these against its ``jobs`` table for
every reader of it: ``list_jobs()`` (a status), ``kinetic jobs history`` (ended jobs,
``ended``), and the live views, ``kinetic top`` and ``kinetic dashboard`` (a filter and a
sort, ``kept`` and ``order_by``, a page at a time). Pure: nothing here touches a database,
and no caller's text ever becomes SQL (values are parameters; orders come from a table).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.model.status import JobStatus


@dataclass(frozen=True)
class Where:
    """Which jobs a query covers: an SQL condition and its parameters."""

    sql: str
    args: tuple[Any, ...]


EVERY = Where("1", ())
NEWEST = "created DESC, job_id DESC"
BATCH_ORDER = "batch_index, job_id"  # a batch's items, by their index in its inputs
# Seconds since the epoch now, in SQLite's oldest spelling (unixepoch() is 3.38+).
_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
# A job's duration as JobState.duration gives it (so far, while it runs); 0 before it starts.
_DURATION = f"COALESCE(MAX(0.0, COALESCE(finished, {_NOW}) - started), 0.0)"
# What a view may sort on -> the columns, the most significant first; the creation time
# then the id break ties, as a view shows jobs newest first unless told otherwise.
_SORTS: dict[str, tuple[str, ...]] = {
    "created": ("created",),
    "status": ("status", "created"),
    "function": ("function", "created"),
    "name": ("COALESCE(name, job_id)", "created"),
    "duration": (_DURATION, "created"),
    "attempts": ("attempts", "created"),
}
SORT_KEYS = tuple(_SORTS)


def order_by(sort: str, descending: bool = True) -> str:
    """The ORDER BY of a view sorted on ``sort`` (one of SORT_KEYS; SpecError if not)."""
    if sort not in _SORTS:
        raise SpecError("sort", sort, f"one of {', '.join(SORT_KEYS)}")
    way = " DESC" if descending else ""
    return ", ".join(f"{column}{way}" for column in (*_SORTS[sort], "job_id"))


def kept(
    status: str | None = None,
    name: str = "",
    function: str = "",
    batch: str = "",
    job_ids: Collection[str] | None = None,
) -> Where:
    """The jobs a view keeps: ``status`` (a JobStatus value), ``name`` a part of the job's
    id or name, ``function`` a part of its function (both in any case), ``batch`` the
    items of that batch, ``job_ids`` (a workflow's jobs) those jobs only."""
    where: list[str] = []
    args: list[Any] = []
    if batch:
        where.append("batch_id = ?")
        args.append(batch)
    if job_ids is not None:
        where.append(f"job_id IN ({','.join('?' * len(job_ids))})" if job_ids else "0")
        args += sorted(job_ids)
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if name:
        where.append("(instr(job_id, ?) > 0 OR instr(lower(COALESCE(name, '')), ?) > 0)")
        args += [name.lower(), name.lower()]
    if function:
        where.append("instr(lower(function), ?) > 0")
        args.append(function.lower())
    return Where(" AND ".join(where), tuple(args)) if where else EVERY


def ended(
    *,
    since: float | None = None,
    status: str | None = None,
    name: str | None = None,
    function: str | None = None,
) -> Where:
    """Ended jobs (SUCCEEDED, FAILED, CANCELLED): ``since`` an epoch time (ended at or
    after), ``status`` one of those, ``name`` and ``function`` a part of the job's name or
    function (``train`` matches ``model.train``)."""
    where = ["terminal = 1", "status != ?"]
    args: list[Any] = [JobStatus.NOT_FOUND.value]
    if since is not None:
        where.append("COALESCE(finished, created) >= ?")
        args.append(since)
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if name is not None:
        where.append("instr(COALESCE(name, ''), ?) > 0")
        args.append(name)
    if function is not None:
        where.append("instr(function, ?) > 0")
        args.append(function)
    return Where(" AND ".join(where), tuple(args))
