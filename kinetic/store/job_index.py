"""This machine's index of a store's jobs: an SQLite file beside the store, never the truth.

Where it sits: ``kinetic.backends.store_listing`` keeps it up to date and reads it, so a
listing or a history over 100,000 jobs costs one directory listing plus the few jobs
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
import gc
import hashlib
import marshal
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobState, JobStatus, parse_time

SCHEMA = 1
_COLUMNS = (
    "job_id TEXT PRIMARY KEY, created REAL, backend TEXT, function TEXT, name TEXT, "
    "status TEXT, reason TEXT, started REAL, finished REAL, attempts INTEGER, "
    "terminal INTEGER, retry_of TEXT, record BLOB, state BLOB"
)


def index_path(store_uri: str) -> Path:
    """Where this machine keeps ``store_uri``'s index: in its Kinetic home, one file per
    store (and per schema and Python version, as the rows are marshalled)."""
    home = Path(os.environ.get("KINETIC_HOME") or Path.home() / ".kinetic").expanduser()
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
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)


class JobIndex:
    """One store's index. Every method is one transaction; a row is (record, state)."""

    def __init__(self, conn: sqlite3.Connection, uri: str):
        self.conn, self.uri = conn, uri

    @classmethod
    def open(
        cls, store_uri: str, path: Path | None = None, *, in_memory: bool = False
    ) -> JobIndex | None:
        """The index of ``store_uri`` (created empty if missing); None when this machine
        cannot keep one (a read-only home…). ``in_memory``: an empty one for this process
        only, for a caller that must then fill it from the store."""
        path = path or index_path(store_uri)
        try:
            if in_memory:
                conn = sqlite3.connect(":memory:", isolation_level=None)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            conn.execute("PRAGMA synchronous=NORMAL")  # a lost row is re-read from the store
            conn.execute(f"CREATE TABLE IF NOT EXISTS jobs ({_COLUMNS})")
            conn.execute("CREATE INDEX IF NOT EXISTS by_created ON jobs (created)")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            found = conn.execute("SELECT value FROM meta WHERE key='store'").fetchone()
            if found is None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (store_uri,))
            elif found[0] != store_uri:  # a hash collision: never mix two stores' jobs
                conn.close()
                return None
        except (OSError, sqlite3.Error):
            return None
        return cls(conn, store_uri)

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
            for (blob,) in self.conn.execute(
                f"SELECT record FROM jobs WHERE job_id IN ({marks})", chunk
            ):
                found.append(JobRecord.from_dict(marshal.loads(blob)))
        return found

    # -- changes ----------------------------------------------------------------------------
    def put(self, rows: Iterable[tuple[JobRecord, JobState]]) -> None:
        values = []
        for record, state in rows:
            with contextlib.suppress(ValueError):  # unmarshallable: read from the store instead
                values.append(_row(record, state))
        with self._transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values
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
    def rows(
        self, *, status: str | None = None, limit: int | None = None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(record, state) dicts, newest first: decoded from their marshalled form, the
        cheapest Python has (the caller builds the objects it needs)."""
        sql, args = "SELECT record, state FROM jobs", []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY created DESC, job_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        loads, collecting = marshal.loads, gc.isenabled()
        gc.disable()  # 200,000 fresh dicts, none in a cycle: no reason to scan them
        try:
            return [(loads(r), loads(s)) for r, s in self.conn.execute(sql, args)]
        finally:
            if collecting:
                gc.enable()

    def finished(
        self,
        *,
        since: float | None = None,
        status: str | None = None,
        name: str | None = None,
        function: str | None = None,
    ) -> list[Finished]:
        """Ended jobs (SUCCEEDED, FAILED, CANCELLED), newest end first, filtered in SQL:
        ``since`` an epoch time (ended at or after), ``name`` and ``function`` exact or a
        substring (``function`` also matches the function's short name)."""
        where, args = ["terminal = 1", "status != ?"], [JobStatus.NOT_FOUND.value]
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
        sql = (
            "SELECT job_id, function, name, status, reason, created, started, finished, "
            f"attempts, retry_of FROM jobs WHERE {' AND '.join(where)} "
            "ORDER BY COALESCE(finished, created) DESC, job_id DESC"
        )
        return list(map(Finished._make, self.conn.execute(sql, args)))


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of an ISO time or a datetime (None if neither): times are
    compared as numbers, since ISO texts with and without fractions do not sort."""
    try:
        when = parse_time(value) if isinstance(value, str) and value else value
        return when.timestamp() if isinstance(when, datetime) else None
    except ValueError:
        return None


def _row(record: JobRecord, state: JobState) -> tuple[Any, ...]:
    return (
        record.job_id,
        _epoch(record.created) or _epoch(state.created),
        record.backend,
        record.function,
        record.name,
        state.status.value,
        state.reason,
        _epoch(state.started),
        _epoch(state.finished),
        state.attempts,
        int(state.status.is_terminal),
        record.retry_of,
        marshal.dumps(record.to_dict()),
        marshal.dumps(state.to_dict()),
    )
