"""Giving the memory freed by deleted jobs back to the system.

Where it sits: the ``Controller`` (controller.py) calls ``Trimmer.soon()`` whenever a
KineticJob or a pod of one is deleted; shortly after, the process's free heap is handed
back to the system.

Why: when a job goes, everything the operator held for it is freed (kopf's indexes and
memos, the job's state), but glibc keeps freed memory in its arenas for reuse, and with
many threads (kopf's handler executor, timers, the progress endpoint) in many arenas. A
long-lived operator's resident memory then stays at the highest it has ever been and
creeps up with each new peak of jobs in flight, although nothing is kept (figures in
docs/benchmarks.md). ``malloc_trim(0)`` returns the free pages. Without glibc (musl,
macOS) there is no such call and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("kinetic.operator")


def glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class Trimmer:
    """Trims at most once every ``delay`` seconds, ``delay`` seconds after a deletion: a
    burst of deletions costs one trim, and the last one is at most ``delay`` seconds old
    when it comes. ``delay`` 0 turns it off."""

    def __init__(self, delay: float, trim: Callable[[int], int] | None = None) -> None:
        self.delay = delay
        self.trim = trim if trim is not None else glibc_malloc_trim()
        self.trims = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def soon(self) -> None:
        if self.trim is None or self.delay <= 0:
            return
        with self._lock:
            if self._timer is not None:
                return  # a trim is coming, and will take this deletion's memory too
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        if self.trim is not None:
            self.trim(0)
            self.trims += 1

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
