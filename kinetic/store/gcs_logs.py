"""Logs in a bucket: ordered, immutable chunk objects named by their starting byte offset.

Objects cannot be appended to, so each flush of a job's output becomes one new object,
``{logs}/{offset:020d}``. Zero-padding makes lexical order equal byte order, so a listing
returns the log in order, and "every chunk from offset N on" is a listing that starts at
the name for N (GCS ``startOffset``). A reader keeps the chunk boundaries it has seen
(chunks never change), so a follower's poll costs one small listing of what is new plus
one ranged download per new chunk, however long the log already is.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor

from kinetic.store.store_contract import ObjectNotFound

DIGITS = 20


def chunk_name(offset: int) -> str:
    return f"{offset:0{DIGITS}d}"


def parse_chunk_name(name: str) -> int | None:
    """The start offset a chunk's final path segment encodes, or None for a foreign object."""
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if len(tail) == DIGITS and tail.isdigit() else None


# list(prefix, start_after_offset) -> [(start, size)] of the chunks at or after that offset
Lister = Callable[[str, int], list[tuple[int, int]]]
# fetch(prefix, chunk_start, skip) -> the chunk's bytes from ``skip`` on
Fetcher = Callable[[str, int, int], bytes]


class LogIndex:
    """Known chunk boundaries per log, and reads assembled from them."""

    MAX_LOGS = 128

    def __init__(self, lister: Lister, fetcher: Fetcher, executor: Callable[[], Executor]):
        self._list, self._fetch, self._executor = lister, fetcher, executor
        self._known: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def _refresh(self, prefix: str) -> list[tuple[int, int]]:
        with self._lock:
            known = list(self._known.get(prefix, []))
        end = known[-1][0] + known[-1][1] if known else 0
        # Only what starts at or after the end we know can be new: chunks are immutable.
        for start, size in self._list(prefix, end):
            if start < end or size <= 0:
                continue  # overlaps what we know (or empty): nothing new in it
            if start > end:
                break  # a gap: stop here so the next listing, from ``end``, finds it
            known.append((start, size))
            end += size
        with self._lock:
            self._known[prefix] = known
            self._known.move_to_end(prefix)
            while len(self._known) > self.MAX_LOGS:
                self._known.popitem(last=False)
        return known

    def forget(self, prefix: str) -> None:
        with self._lock:
            self._known.pop(prefix, None)

    def forget_under(self, prefix: str) -> None:
        """Drop every log at or below ``prefix`` (its objects are being deleted)."""
        with self._lock:
            for known in [
                p for p in self._known if not prefix or p == prefix or p.startswith(prefix + "/")
            ]:
                del self._known[known]

    def end(self, prefix: str) -> int:
        """The log's length: where its last known chunk ends (one small listing)."""
        chunks = self._refresh(prefix)
        return chunks[-1][0] + chunks[-1][1] if chunks else 0

    def read(self, prefix: str, offset: int) -> tuple[bytes, int]:
        chunks = self._refresh(prefix)
        wanted: list[tuple[int, int]] = []  # (chunk start, bytes to skip in it)
        pos = offset
        first = max(0, bisect.bisect_right(chunks, (offset, float("inf"))) - 1)
        for start, size in chunks[first:]:
            if start + size <= pos:
                continue
            if start > pos:
                break  # not contiguous (cannot happen with a contiguous index; be safe)
            wanted.append((start, pos - start))
            pos = start + size
        if not wanted:
            return b"", offset
        try:
            if len(wanted) == 1:
                parts = [self._fetch(prefix, *wanted[0])]
            else:
                pool = self._executor()
                parts = list(pool.map(lambda w: self._fetch(prefix, *w), wanted))
        except ObjectNotFound:
            # The log was deleted (job cleaned up) since we listed it.
            self.forget(prefix)
            return b"", offset
        data = b"".join(parts)
        return data, offset + len(data)
