"""Calls put off to a later moment, run by one waiting thread and a few workers.

Where it sits: the ``Controller`` (controller.py) holds one ``DeferredCalls`` for the
status writes it puts off while a job settles (status_settle.py): a burst of a thousand
new jobs then waits on one thread and writes through a few, instead of starting a
thousand ``threading.Timer`` threads that would all wake at once and each open its own
connection to the API server. A call's handle can be cancelled (the job's state does so
when the job is deleted, state.py).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WORKERS = 4  # calls due at the same moment run this many at a time


class DeferredCall:
    """One call to come; ``cancel()`` before it runs and it never does."""

    def __init__(self, at: float, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.at, self.fn, self.args = at, fn, args
        self.cancelled = False
        self.started = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def pending(self) -> bool:
        """Still to run (neither cancelled nor started: the call now running is not)."""
        return not (self.cancelled or self.started)


class DeferredCalls:
    """``call_later(delay, fn, *args)``: run ``fn(*args)`` on a worker after ``delay`` s."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._heap: list[tuple[float, int, DeferredCall]] = []
        self._order = itertools.count()  # equal times: first come, first run
        self._wake = threading.Condition()
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> DeferredCall:
        call = DeferredCall(time.monotonic() + max(0.0, delay), fn, args)
        with self._wake:
            if self._stopped:
                call.cancel()
                return call
            heapq.heappush(self._heap, (call.at, next(self._order), call))
            if self._thread is None:  # started on first use: importing or building is free
                self._pool = ThreadPoolExecutor(self._workers, "kinetic-deferred")
                self._thread = threading.Thread(target=self._wait, name="kinetic-deferred",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._wake.notify()
        return call

    def __len__(self) -> int:
        with self._wake:
            return sum(1 for _at, _n, call in self._heap if call.pending)

    def stop(self) -> None:
        """Cancel what is still to come; a call already running finishes."""
        with self._wake:
            self._stopped = True
            for _at, _n, call in self._heap:
                call.cancel()
            self._heap.clear()
            self._wake.notify()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _wait(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _at, _n, call = heapq.heappop(self._heap)
                pool = self._pool
            if call.pending and pool is not None:
                try:
                    pool.submit(self._run, call)
                except RuntimeError:  # stopped meanwhile: the pool takes nothing more
                    return

    @staticmethod
    def _run(call: DeferredCall) -> None:
        if call.cancelled:
            return
        call.started = True
        call.fn(*call.args)
