"""Reading a job's output from the store: all of it, the tail, or following it live.

A follower keeps a byte offset into the log; every line it yields carries the offset just
past it (``LogLine.end``), so a follower that reconnects with ``offset=line.end`` resumes
after the last line it saw — nothing lost, nothing repeated.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import StorageError
from .store import Store, layout

if TYPE_CHECKING:
    from .handle import JobHandle


class LogLine(str):
    """A line of output (with its newline) and the byte offset just after it."""

    end: int

    def __new__(cls, text: str, end: int) -> LogLine:
        line = super().__new__(cls, text)
        line.end = end
        return line


def read_text(store: Store, job_id: str) -> str:
    data, _ = store.read_log(layout.logs_prefix(job_id), 0)
    return data.decode("utf-8", errors="replace")


def tail(store: Store, job_id: str, n: int = 100) -> str:
    if n <= 0:
        return ""
    lines = read_text(store, job_id).splitlines(keepends=True)
    return "".join(lines[-n:])


def _poll_interval(store: Store) -> float:
    # Local files are cheap to poll; a bucket costs a request each time.
    return 0.1 if store.uri.startswith("file:") else 0.5


def follow(handle: JobHandle, offset: int = 0) -> Iterator[LogLine]:
    """Yield lines as the job writes them, until it ends and its log is drained."""
    store = handle._store
    prefix = layout.logs_prefix(handle.job_id)
    interval = _poll_interval(store)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = b""  # bytes of an unfinished line
    line_start = offset
    failures = 0
    while True:
        # Read the state first: if it is terminal, everything the job wrote is already in.
        finished = handle.state().status.is_terminal
        try:
            data, offset = store.read_log(prefix, offset)
            failures = 0
        except StorageError:
            failures += 1
            if failures > 5:
                raise
            time.sleep(min(2.0**failures, 10.0))
            continue
        pending += data
        while (cut := pending.find(b"\n")) >= 0:
            raw, pending = pending[: cut + 1], pending[cut + 1 :]
            line_start += len(raw)
            yield LogLine(decoder.decode(raw), line_start)
        if finished:
            if pending:
                yield LogLine(decoder.decode(pending, final=True), line_start + len(pending))
            return
        if not data:
            time.sleep(interval)
