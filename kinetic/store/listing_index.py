"""This machine's index of a store's jobs: an SQLite file beside the store, never the truth.

Where it sits: the one job index of the caller's side. ``kinetic.backends.store_listing``
keeps it up to date and reads it for ``list_jobs()`` and ``kinetic jobs history``, and
the live views page through it (``kinetic.client.job_index``), so a listing, a history
or a view's refresh over 100,000 jobs costs one directory listing plus the few jobs
that are new or still running, not 200,000 object reads. The store stays the truth: the
index is rebuilt from it when missing, unreadable, or written by another schema (or
Python: records are kept in ``marshal`` form, which is per Python version), and every
listing reconciles it with the store's current list of jobs.

Why caching is safe: a job's record (handle.json) is written once, and a terminal state
never changes, so a row whose state is terminal is final; only rows still PENDING or
RUNNING are asked again. A job whose records were deleted leaves the store's list and
its row is forgotten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from kinetic.model.job_record import JobRecord
from kinetic.model.kinetic_home import kinetic_home
from kinetic.model.status import JobState, parse_time
from kinetic.store.index_queries import EVERY, NEWEST, Where

SCHEMA = 6
_COLUMNS = (
    "job_id TEXT PRIMARY KEY, created REAL, backend TEXT, function TEXT, name TEXT, "
    "status TEXT, reason TEXT, started REAL, finished REAL, attempts INTEGER, "
    "terminal INTEGER, retry_of TEXT, head BLOB, body BLOB, batch_id TEXT, "
    "batch_index INTEGER, progress REAL"
)
# A record's dict fields, decoded only when a caller reads them (JobRecord.__getattr__):
# a listing needs the id, function and times of every job, the spec of a few.
DEFERRED = ("spec", "extra", "client")


def index_path(store_uri: str) -> Path:
    """Where this machine keeps ``store_uri``'s index: in its Kinetic home, one file per
    store (and per schema and Python version, as the rows are marshalled)."""
    home = kinetic_home()
    key = hashlib.sha256(store_uri.encode()).hexdigest()[:24]
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return home / "index" / f"v{SCHEMA}-{py}" / f"{key}.sqlite"


class Finished(NamedTuple):
    """One ended job as a history shows it (columns only: no record is decoded; a tuple,
    as a history may build 100,000 of them)."""

    job_id: str
    function: str
    name: str | None
    status: str
    reason: str | None
    created: float | None
    started: float | None
    finished: float | None
    attempts: int
    retry_of: str | None

    @property
    def duration(self) -> float | None:
        return _span(self.started, self.finished)


class Listed(NamedTuple):
    """One job as a table of jobs shows it (`kinetic jobs list`): columns only, no record
    decoded, so 100,000 of them cost a SELECT and a tuple each."""

    job_id: str
    function: str
    status: str
    reason: str | None
    progress: float | None  # the fraction done the job last reported, if it did
    created: float | None  # seconds since the epoch, as every time here
    started: float | None
    finished: float | None
    backend: str

    @property
    def duration(self) -> float | None:
        return _span(self.started, self.finished)


def _span(started: float | None, finished: float | None) -> float | None:
    if started is None or finished is None:
        return None
    return max(0.0, finished - started)


class JobIndex:
    """One store's index. Every method is one transaction; a row is (record, state)."""

    def __init__(self, conn: sqlite3.Connection, uri: str, *, in_memory: bool = False):
        self.conn, self.uri, self.in_memory = conn, uri, in_memory

    @classmethod
    def open(
        cls, store_uri: str, path: Path | None = None, *, in_memory: bool = False
    ) -> JobIndex | None:
        """The index of ``store_uri`` (created empty if missing); None when this machine
        cannot keep one (a read-only home…). ``in_memory``: an empty one for this process
        only, for a caller that must then fill it from the store."""
        path = path or index_path(store_uri)
        try:
            return cls._open(store_uri, None if in_memory else path)
        except sqlite3.OperationalError:  # locked too long, disk full…: read the store alone
            return None
        except sqlite3.DatabaseError:
            if in_memory:
                return None
        except (OSError, sqlite3.Error):
            return None
        # Not a database (damaged, or truncated by a full disk): it holds nothing the
        # store does not, so it is started again.
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{path}{suffix}")
        try:
            return cls._open(store_uri, path)
        except (OSError, sqlite3.Error):
            return None

    @classmethod
    def _open(cls, store_uri: str, path: Path | None) -> JobIndex | None:
        if path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A view refreshes in one thread and pages in another, one at a time (its lock).
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            conn.execute("PRAGMA synchronous=NORMAL")  # a lost row is re-read from the store
            conn.execute(f"CREATE TABLE IF NOT EXISTS jobs ({_COLUMNS})")
            conn.execute("CREATE INDEX IF NOT EXISTS by_created ON jobs (created, job_id)")
            conn.execute("CREATE INDEX IF NOT EXISTS by_terminal ON jobs (terminal)")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            found = conn.execute("SELECT value FROM meta WHERE key='store'").fetchone()
            if found is None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (store_uri,))
            elif found[0] != store_uri:  # a hash collision: never mix two stores' jobs
                conn.close()
                return None
        except BaseException:
            conn.close()
            raise
        return cls(conn, store_uri, in_memory=path is None)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # -- what is known ----------------------------------------------------------------------
    def terminal_flags(self) -> dict[str, bool]:
        """Every indexed job id -> whether its state is final."""
        return dict(self.conn.execute("SELECT job_id, terminal FROM jobs"))

    def records(self, job_ids: Iterable[str]) -> list[JobRecord]:
        """The indexed records of ``job_ids`` (those that are indexed)."""
        wanted, found = list(job_ids), []
        for start in range(0, len(wanted), 500):  # SQLite's bound on parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for head, body in self.conn.execute(
                f"SELECT head, body FROM jobs WHERE job_id IN ({marks})", chunk
            ):
                record, _ = marshal.loads(head)
                found.append(JobRecord.from_dict({**record, **marshal.loads(body)}))
        return found

    def unfinished(self) -> list[str]:
        """The ids of the indexed jobs whose state may still change."""
        return [job for (job,) in self.conn.execute("SELECT job_id FROM jobs WHERE terminal = 0")]

    def listing_digest(self) -> str | None:
        """The digest of the store's list of jobs when every job in it was indexed."""
        found = self.conn.execute("SELECT value FROM meta WHERE key = 'listing'").fetchone()
        return found[0] if found else None

    def set_listing_digest(self, digest: str | None) -> None:
        with self._transaction():
            self.conn.execute("DELETE FROM meta WHERE key = 'listing'")
            if digest is not None:
                self.conn.execute("INSERT INTO meta VALUES ('listing', ?)", (digest,))

    # -- changes ----------------------------------------------------------------------------
    def put(self, rows: Iterable[tuple[JobRecord, JobState]]) -> None:
        # Written oldest first, rows lie on disk in the order listings read them (newest
        # first, scanning backwards): 100,000 rows cost ~35,000 pages read in sequence,
        # not one random page each (half the time of a listing's SELECT).
        values = sorted(
            (_row(record, state) for record, state in rows),
            key=lambda row: (row[1] or 0.0, row[0]),
        )
        with self._transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values
            )

    def forget(self, job_ids: Iterable[str]) -> None:
        with self._transaction():
            self.conn.executemany("DELETE FROM jobs WHERE job_id = ?", [(j,) for j in job_ids])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- reading ----------------------------------------------------------------------------
    def encoded(
        self,
        where: Where = EVERY,
        order: str = NEWEST,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[tuple[bytes, bytes]]:
        """(head and state, body) of each job ``where`` keeps, in ``order``
        (kinetic.store.index_queries; newest first by default), the ``limit`` from
        ``offset``, as stored: ``marshal`` bytes of (the record's set fields but the
        DEFERRED ones, the state's set fields), and of the DEFERRED dicts, for
        ``JobRecord`` to decode if they are ever read."""
        sql = f"SELECT head, body FROM jobs WHERE {where.sql} ORDER BY {order}"
        args = list(where.args)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else limit, offset]
        return self.conn.execute(sql, args).fetchall()

    def rows(
        self,
        where: Where = EVERY,
        order: str = NEWEST,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[tuple[tuple[dict[str, Any], dict[str, Any]], bytes]]:
        """``encoded``'s rows with the head and the state decoded."""
        found = self.encoded(where, order, limit=limit, offset=offset)
        return [(marshal.loads(h), b) for h, b in found]

    def row(self, job_id: str) -> tuple[tuple[dict[str, Any], dict[str, Any]], bytes] | None:
        """One job's row as ``rows`` gives it; None if it is not indexed."""
        sql = "SELECT head, body FROM jobs WHERE job_id = ?"
        found = self.conn.execute(sql, (job_id,)).fetchone()
        return None if found is None else (marshal.loads(found[0]), found[1])

    def matching(self, where: Where = EVERY) -> int:
        """How many jobs ``where`` keeps."""
        return self.conn.execute(
            f"SELECT COUNT(*) FROM jobs WHERE {where.sql}", where.args
        ).fetchone()[0]

    def batch_counts(self) -> dict[str, dict[str, int]]:
        """Each batch's indexed items, counted by status."""
        sql = "SELECT batch_id, status, COUNT(*) FROM jobs WHERE batch_id IS NOT NULL GROUP BY 1, 2"
        found: dict[str, dict[str, int]] = {}
        for batch, status, n in self.conn.execute(sql):
            found.setdefault(batch, {})[status] = n
        return found

    def by_status(self) -> dict[str, int]:
        """Status -> how many jobs have it."""
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))

    def listed(
        self, where: Where = EVERY, order: str = NEWEST, limit: int | None = None
    ) -> list[Listed]:
        """The jobs ``where`` keeps, in ``order``, as a table's rows (the first ``limit``)."""
        sql = (
            "SELECT job_id, function, status, reason, progress, created, started, finished, "
            f"backend FROM jobs WHERE {where.sql} ORDER BY {order}"
        )
        args = list(where.args)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return list(map(Listed._make, self.conn.execute(sql, args)))

    def finished(self, where: Where, limit: int | None = None) -> list[Finished]:
        """Ended jobs matching ``where``, latest end first (the first ``limit``)."""
        sql = (
            "SELECT job_id, function, name, status, reason, created, started, finished, "
            f"attempts, retry_of FROM jobs WHERE {where.sql} "
            "ORDER BY COALESCE(finished, created) DESC, job_id DESC"
        )
        args = list(where.args)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return list(map(Finished._make, self.conn.execute(sql, args)))

    def counts(self, where: Where) -> dict[tuple[str, str], int]:
        """(function, status) -> how many ended jobs matching ``where``."""
        sql = f"SELECT function, status, COUNT(*) FROM jobs WHERE {where.sql} GROUP BY 1, 2"
        return {(f, st): n for f, st, n in self.conn.execute(sql, where.args)}

    def durations(self, where: Where) -> dict[str, list[float]]:
        """function -> the sorted durations (seconds from start to end) of the ended jobs
        matching ``where`` that have both times; sorted by SQLite, not in Python."""
        sql = (
            "SELECT function, MAX(0.0, finished - started) AS d FROM jobs "
            f"WHERE {where.sql} AND started IS NOT NULL AND finished IS NOT NULL "
            "ORDER BY function, d"
        )
        found: dict[str, list[float]] = {}
        for function, group in groupby(self.conn.execute(sql, where.args), key=itemgetter(0)):
            found[function] = [d for _, d in group]
        return found


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of an ISO time or a datetime (None if neither): times are
    compared as numbers, since ISO texts with and without fractions do not sort."""
    try:
        when = parse_time(value) if isinstance(value, str) and value else value
        return when.timestamp() if isinstance(when, datetime) else None
    except ValueError:
        return None


def listed_of(record: JobRecord, state: JobState) -> Listed:
    """A job's table row from its record and state: what the index's columns hold, so a
    cluster's listing (not indexed) shows its jobs as a store's would."""
    return Listed(
        job_id=record.job_id,
        function=record.function,
        status=state.status.value,
        reason=None if state.reason is None else str(state.reason),
        progress=_number((state.progress or {}).get("fraction")),
        created=_epoch(record.created) or _epoch(state.created),
        started=_epoch(state.started),
        finished=_epoch(state.finished),
        backend=record.backend,
    )


def _row(record: JobRecord, state: JobState) -> tuple[Any, ...]:
    data, row = record.to_dict(), listed_of(record, state)
    return (
        row.job_id,
        row.created,
        row.backend,
        row.function,
        record.name,
        row.status,
        row.reason,
        row.started,
        row.finished,
        state.attempts,
        int(state.status.is_terminal),
        record.retry_of,
        _dumps((_set(data, DEFERRED), _set(state.to_dict(), ()))),
        _dumps({k: data[k] for k in DEFERRED}),
        None if not record.batch else str(record.batch.get("id")),
        None if not record.batch else _number(record.batch.get("index")),
        row.progress,
    )


def _number(value: Any) -> float | None:
    """A JSON number as stored (None for anything else: bool is not one)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _set(data: dict[str, Any], leave: tuple[str, ...]) -> dict[str, Any]:
    """``data`` without ``leave`` and without the fields that are None: a listing decodes
    100,000 of these, and each key left out is one string fewer to read back (readers put
    the Nones back: ``kinetic.backends.store_listing``)."""
    return {k: v for k, v in data.items() if v is not None and k not in leave}


def _dumps(value: Any) -> bytes:
    """``marshal``'s bytes of a JSON-like value. marshal refuses subclasses of str (a
    ``Reason`` in a state a backend built), so such a value goes through JSON first,
    which is what handle.json and state.json hold anyway."""
    try:
        return marshal.dumps(value)
    except ValueError:
        return marshal.dumps(json.loads(json.dumps(value)))
