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

from kinetic.model.errors import StorageError
from kinetic.store import Store, layout

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle


class LogLine(str):
    """A line of output (with its newline), the byte offset just after it in its attempt's
    log, and that attempt's number."""

    end: int
    attempt: int

    def __new__(cls, text: str, end: int, attempt: int = 1) -> LogLine:
        line = super().__new__(cls, text)
        line.end = end
        line.attempt = attempt
        return line


def read_text(store: Store, job_id: str, attempt: int = 1) -> str:
    data, _ = store.read_log(layout.logs_prefix(job_id, attempt), 0)
    return data.decode("utf-8", errors="replace")


TAIL_READ = 64 * 1024


def tail(store: Store, job_id: str, n: int = 100, attempt: int = 1) -> str:
    """The last ``n`` lines, reading only the end of a long log (more of it as needed)."""
    if n <= 0:
        return ""
    prefix = layout.logs_prefix(job_id, attempt)
    end = store.log_end(prefix)
    start = max(0, end - TAIL_READ)
    while True:
        data, _ = store.read_log(prefix, start)
        lines = data.splitlines(keepends=True)
        if start == 0 or len(lines) > n:  # more than n: the first may be cut mid-line
            text = b"".join(lines[-n:])
            return text.decode("utf-8", errors="replace")
        start = max(0, start - 4 * (end - start))


def _poll_interval(store: Store) -> float:
    # Local files are cheap to poll; a bucket costs a request each time.
    return 0.1 if store.uri.startswith("file:") else 0.5


def _follow_data(
    handle: JobHandle, offset: int, attempt: int | None
) -> Iterator[tuple[bytes, int, bool]]:
    """(bytes as they are written, their attempt, whether that attempt's log is complete),
    until the job ends; the log's raw bytes, so a terminal can show them as they come."""
    store = handle._store
    pinned = attempt is not None
    attempt = attempt if attempt is not None else max(1, handle.state().attempts)
    interval = _poll_interval(store)
    failures = 0
    while True:
        # Read the state first: if it is terminal (or a later attempt began), everything
        # this attempt wrote is already in.
        state = handle.state()
        moved_on = not pinned and state.attempts > attempt
        finished = state.status.is_terminal or moved_on or (pinned and state.attempts > attempt)
        try:
            data, offset = store.read_log(layout.logs_prefix(handle.job_id, attempt), offset)
            failures = 0
        except StorageError:
            failures += 1
            if failures > 5:
                raise
            time.sleep(min(2.0**failures, 10.0))
            continue
        if data or finished:
            yield data, attempt, finished
        if finished:
            if not moved_on:
                return
            attempt, offset = state.attempts, 0
            continue
        if not data:
            time.sleep(interval)


def follow(handle: JobHandle, offset: int = 0, attempt: int | None = None) -> Iterator[LogLine]:
    """Yield lines as the job writes them, until it ends and its log is drained.

    Without ``attempt`` it follows the current attempt and, when the job is retried, goes
    on with the next one's log (``offset`` applies to the first attempt followed).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = b""  # bytes of an unfinished line
    line_start = offset
    for data, number, finished in _follow_data(handle, offset, attempt):
        pending += data
        while (cut := pending.find(b"\n")) >= 0:
            raw, pending = pending[: cut + 1], pending[cut + 1 :]
            line_start += len(raw)
            yield LogLine(decoder.decode(raw), line_start, number)
        if finished:
            if pending:
                text = decoder.decode(pending, final=True)
                yield LogLine(text, line_start + len(pending), number)
            line_start, pending = 0, b""
            decoder.reset()


def follow_raw(handle: JobHandle, attempt: int | None = None) -> Iterator[str]:
    """The job's output as it comes, unfinished lines included: for a terminal, where a
    progress bar's ``\r`` updates redraw it in place."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for data, _number, finished in _follow_data(handle, 0, attempt):
        if text := decoder.decode(data, final=finished):
            yield text
        if finished:
            decoder.reset()


def collapse_line(line: str) -> str:
    """A line as a terminal would leave it: what follows its last carriage return (a
    progress bar's final state), so a pipe or a file gets one line per bar."""
    body = line.rstrip("\r\n")
    if "\r" not in body:
        return line
    end = line[len(body) :].replace("\r", "")
    last = next((part for part in reversed(body.split("\r")) if part), "")
    return last + end
