"""What the operator remembers about each job between syncs, and when it forgets it.

Where it sits: the ``Controller`` (controller.py) holds one ``JobRegistry``; every sync of
a job, and every progress report for it, works on that job's ``JobState`` while holding
its lock. Everything else the operator knows comes from kopf's indexes and is recomputed
on each sync, so this is only what the cluster cannot tell yet: status keys just written
(the index lags), Jobs just created (the watch has not shown them), the timers that will
sync the job again, and the latest progress report.

**Lifetime.** A job's state exists while its KineticJob does:

* it is made on first use (a sync, a progress report);
* it is released when the KineticJob's deletion is seen (``release``), and by any sync
  that finds the KineticJob gone (``discard``) — so an event that arrives after the
  deletion (its pods going, a late report, a timer) leaves nothing behind either;
* releasing cancels the job's timers: nothing runs for a deleted job.

Why not kopf's own facilities: a kopf memo belongs to one object, while a job's state is
shared by its KineticJob, its Jobs, its pods and the progress endpoint; kopf timers and
daemons put a finalizer on every KineticJob (two more writes per job, and deletion blocked
while the operator is down); ``TemporaryError`` retries only change handlers, which keep
progress annotations on the object — the operator uses ``on.event`` so that it writes none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kinetic_operator.deferred_calls import DeferredCall

Key = tuple[str, str]  # (namespace, job id = the KineticJob's name)


@dataclass(eq=False)
class JobState:
    """One job's memory. Read and written only while ``lock`` is held (``JobRegistry.hold``)."""

    key: Key
    uid: str | None = None  # the KineticJob's; another object of the same name starts afresh
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # .status keys this process wrote: fresher than the index until its watch catches up.
    written: dict[str, Any] = field(default_factory=dict)
    # Jobs the API server said exist (created, or 409): do not POST them again.
    created: set[str] = field(default_factory=set)
    # A failed sync: the wait before the next try, and the timer that will make it.
    failure_delay: float | None = None
    retry: threading.Timer | None = None
    # A scheduled start or a retry's backoff: the timer that syncs the job when it comes.
    wake: threading.Timer | None = None
    # The latest progress report, and its throttled status write (progress_server.py).
    progress: dict[str, Any] | None = None
    progress_write: threading.Timer | None = None
    progress_written_at: float = float("-inf")  # time.monotonic()
    # A PENDING job's status write put off while it settles (status_settle.py), and when
    # this process last wrote the job's status or created its Job.
    settle: DeferredCall | None = None
    status_written_at: float = float("-inf")  # time.monotonic()
    job_created_at: float = float("-inf")  # time.monotonic()
    # notify=: a delivery of the job's end is running on a thread (notifier.py).
    notifying: bool = False
    closed: bool = False

    def timers(self) -> list[threading.Timer]:
        return [t for t in (self.retry, self.wake, self.progress_write) if t is not None]

    def close(self) -> None:
        """Cancel the timers; a sync waiting for the lock will see ``closed`` and look again."""
        self._clear()
        self.closed = True

    def adopt(self, uid: str | None) -> None:
        """Bind the state to the KineticJob ``uid``; a new object of the same name (the old
        one deleted and recreated before its deletion reached us) starts from nothing."""
        if uid and self.uid and uid != self.uid:
            self._clear()
        self.uid = uid or self.uid

    def _clear(self) -> None:
        for timer in self.timers():
            timer.cancel()
        if self.settle is not None:
            self.settle.cancel()
        self.retry = self.wake = self.progress_write = self.settle = None
        self.status_written_at = self.job_created_at = float("-inf")
        self.written, self.created, self.failure_delay = {}, set(), None
        self.progress, self.progress_written_at = None, float("-inf")
        self.notifying = False


class JobRegistry:
    """The operator's per-job states, by (namespace, job id). Thread-safe: kopf's handler
    threads, the timers and the progress endpoint use it at once."""

    def __init__(self) -> None:
        self._jobs: dict[Key, JobState] = {}
        self._guard = threading.Lock()  # the dict only; each state has its own lock

    def __len__(self) -> int:
        with self._guard:
            return len(self._jobs)

    def __contains__(self, key: object) -> bool:
        with self._guard:
            return key in self._jobs

    def get(self, key: Key) -> JobState | None:
        """The job's state if it has one (for a look, not for changing it)."""
        with self._guard:
            return self._jobs.get(key)

    @contextmanager
    def hold(self, key: Key) -> Iterator[JobState]:
        """The job's state, made if needed, with its lock held: one sync at a time per job
        (events for a job, its Jobs and its pods arrive on several threads at once)."""
        while True:
            with self._guard:
                state = self._jobs.get(key)
                if state is None:
                    state = self._jobs[key] = JobState(key)
            state.lock.acquire()
            if not state.closed:
                break
            state.lock.release()  # released while we waited: take the current one
        try:
            yield state
        finally:
            state.lock.release()

    def discard(self, state: JobState) -> None:
        """Forget a job whose state the caller holds (``hold``): its KineticJob is gone."""
        with self._guard:
            if self._jobs.get(state.key) is state:
                del self._jobs[state.key]
        state.close()

    def release(self, key: Key, uid: str | None = None) -> None:
        """The KineticJob is deleted: forget its state and cancel its timers. With ``uid``,
        only if the state is that object's (not a newer one's of the same name)."""
        with self._guard:
            state = self._jobs.get(key)
            if state is None or (uid and state.uid and state.uid != uid):
                return
            del self._jobs[key]
        with state.lock:  # after a sync in progress, which may have started a timer
            state.close()

    def close(self) -> None:
        """The operator stops: cancel every timer."""
        with self._guard:
            states, self._jobs = list(self._jobs.values()), {}
        for state in states:
            with state.lock:
                state.close()
