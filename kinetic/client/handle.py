"""JobHandle: a small, JSON-serializable reference to a job that works from any machine."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kinetic.model.errors import JobNotFoundError, SpecError
from kinetic.model.job_record import JobRecord, function_name
from kinetic.model.status import JobState, JobStatus

if TYPE_CHECKING:
    from kinetic.backends.backend_contract import Backend
    from kinetic.model.endpoint import Endpoint
    from kinetic.store import Store

_MISSING = object()


@dataclass(repr=False)
class JobHandle(JobRecord):
    """A job as the caller sees it: its record (handle.json) plus what can be done with it."""

    # The collected value, so a second result() on this object returns it again.
    _value: Any = field(default=_MISSING, repr=False, compare=False)
    # The state read when the job was listed (kinetic.list_jobs), so a listing costs no
    # request per job; status() and state() always ask again.
    listed_state: JobState | None = field(default=None, repr=False, compare=False)

    @property
    def func_name(self) -> str:
        """The function's name ("train"), or "command:NAME" for kinetic.submit() jobs."""
        return function_name(self.function)

    # -- plumbing -------------------------------------------------------------------------
    @property
    def _backend(self) -> Backend:
        from kinetic.backends import get_backend

        return get_backend(self.backend)

    @property
    def _store(self) -> Store:
        from kinetic.store import open_store

        return open_store(self.store)

    # -- status -----------------------------------------------------------------------------
    def state(self) -> JobState:
        """Everything known about the job now: status, reason, message, times, progress…"""
        return self._backend.state(self)

    def status(self) -> JobStatus:
        return self.state().status

    def wait(self, timeout: float | None = None, *, progress: bool | None = None) -> JobState:
        """Block until the job ends; TimeoutError after ``timeout`` seconds (job untouched).

        While it blocks, a live line shows the job's status, elapsed time and progress:
        ``progress=None`` shows it where someone watches (Jupyter, or a terminal, from the
        main thread), True always, False never. It is erased when the wait ends."""
        from kinetic.client.display import live_display

        display = None
        try:
            for state in self._poll(timeout):
                if state.status.is_terminal:
                    return state
                if display is None:
                    display = live_display(self, progress)
                display.update(state)
        finally:
            if display is not None:
                display.close()
        raise AssertionError("unreachable: _poll ends with a terminal state or TimeoutError")

    def _poll(self, timeout: float | None) -> Iterator[JobState]:
        """The job's states until a terminal one; TimeoutError after ``timeout`` seconds."""
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        # A local record costs a file read to poll; a bucket or an API server, a request.
        # Short jobs are common locally, so poll briskly for their first seconds.
        local = self.backend == "local" and self.store.startswith("file:")
        poll, most, brisk = (0.01, 0.5, 2.0) if local else (0.2, 2.0, 0.0)
        while True:
            state = self.state()
            yield state
            if state.status.is_terminal:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {self.job_id} still {state.status.value} after {timeout}s; "
                    "it keeps running (call result() again, or cancel())"
                )
            time.sleep(
                poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            )
            if time.monotonic() - start > brisk:
                poll = min(poll * 1.5, most)

    # -- logs -------------------------------------------------------------------------------
    def _attempt(self, attempt: int | None, state: JobState | None = None) -> int:
        """The attempt to read: the one asked for, else the one ``state`` is on, else the
        latest with records in the store (retries keep each attempt's logs, result and
        outputs apart; see kinetic.model.retry_policy). Without a state only the store is read, so
        logs and outputs need no access to the backend (a cluster may be out of reach)."""
        if attempt is not None:
            if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
                raise SpecError("attempt", attempt, "a number from 1")
            return attempt
        if state is not None and state.attempts >= 1:
            return state.attempts
        from kinetic.store import layout

        return layout.latest_attempt(self._store, self.job_id)

    def logs(
        self, follow: bool = False, file: TextIO | None = None, attempt: int | None = None
    ) -> str | None:
        """The job's output so far (its latest attempt's, or ``attempt``'s); with ``follow``
        print it as it comes until the job ends, going on into any retry."""
        from kinetic.client import log_reader as logs

        if not follow:
            return logs.read_text(self._store, self.job_id, self._attempt(attempt))
        out = file or sys.stdout
        if _is_terminal(out):  # shown as it comes: progress bars redraw in place
            for text in logs.follow_raw(self, attempt=attempt):
                out.write(text)
                out.flush()
            return None
        for line in logs.follow(self, attempt=attempt):  # a pipe: each bar's final state
            out.write(logs.collapse_line(line))
            out.flush()
        return None

    def stream_logs(
        self, follow: bool = True, offset: int = 0, attempt: int | None = None
    ) -> Iterator[str]:
        """Lines of output (with their newlines) as they are written."""
        from kinetic.client import log_reader as logs

        if follow:
            return logs.follow(self, offset=offset, attempt=attempt)
        text = logs.read_text(self._store, self.job_id, self._attempt(attempt))
        return iter(text.splitlines(keepends=True))

    def tail(self, n: int = 100, attempt: int | None = None) -> str:
        """The last ``n`` lines of the job's output (its latest attempt's, or ``attempt``'s)."""
        from kinetic.client import log_reader as logs

        return logs.tail(self._store, self.job_id, n, self._attempt(attempt))

    # -- result -----------------------------------------------------------------------------
    def result(
        self, timeout: float | None = None, cleanup: bool = True, *, verify: bool = True
    ) -> Any:
        """The job's return value; re-raises its exception; TimeoutError leaves it running.

        On success with ``cleanup`` the job's resources and artifacts are removed; the value
        stays on this handle, so calling result() again returns it again. On failure every
        artifact is kept.

        On Kubernetes the result must match the digest the KineticJob recorded; once that
        is deleted (``cleanup(k8s=True, gcs=False)``) the result is refused with an
        IntegrityError unless ``verify=False`` (then only its own header vouches for it).
        """
        if self._value is not _MISSING:
            return self._value
        from kinetic.client.results import collect

        # Callers of one job in this process (threads, separate handles) share one
        # collection: the first collects and cleans up, the others get its value rather
        # than a job deleted under them.
        with _shared_collection(self.store, self.job_id) as shared:
            state = self.wait(timeout)
            with shared.lock:
                if shared.value is _MISSING and self._value is _MISSING:
                    shared.value = collect(self, state, verify)
                    if cleanup:
                        self._cleanup_after_result()
                if self._value is _MISSING:
                    self._value = shared.value
        return self._value

    def _cleanup_after_result(self) -> None:
        """result()'s cleanup, skipped while jobs waiting for this one may still read its
        value (and, on Kubernetes, its KineticJob's word for it): docs/pipelines.md."""
        from kinetic.client.dependencies import waiting_dependents

        if not waiting_dependents(self._store, self.job_id):
            self.cleanup()

    # -- control ----------------------------------------------------------------------------
    def cancel(
        self, wait: bool = True, timeout: float | None = None, *, dependents: bool = False
    ) -> JobState:
        """Stop the job; it ends CANCELLED with its logs and outputs kept.

        ``dependents=True`` also cancels every job waiting for it (directly or through
        others); without it they end CANCELLED/DependencyFailed once this one has ended."""
        if dependents:
            from kinetic.client.dependencies import cancel_dependents

            cancel_dependents(self, wait=wait, timeout=timeout)
        return self._backend.cancel(self, wait=wait, timeout=timeout)

    def cleanup(self, k8s: bool = True, gcs: bool = True) -> None:
        """Remove the job: its processes or cluster objects (``k8s``) and artifacts (``gcs``).

        The flag names follow keras-team/kinetic: ``gcs`` means the store's artifacts,
        whichever store holds them.
        """
        from kinetic.store import layout

        if k8s:
            self._backend.release(self)
        if gcs:
            import json

            from kinetic.model.status import format_time, utcnow

            store = self._store
            store.delete_prefix(layout.job_prefix(self.job_id))
            # A tombstone, so "no such job" can say when it went rather than nothing.
            stone = {"job_id": self.job_id, "function": self.function,
                     "cleaned_up": format_time(utcnow())}  # fmt: skip
            store.write_bytes(layout.tombstone_key(self.job_id), json.dumps(stone).encode())

    # -- retry ------------------------------------------------------------------------------
    def retry(self, *, force: bool = False, **overrides: Any) -> JobHandle:
        """Run this finished job again as a new job, from its stored payload and spec, with
        ``overrides`` of its options (``timeout=``, ``memory=``, ``accelerator=``,
        ``resume_from=``…). A failed or cancelled job is retried; a succeeded one only with
        ``force``. The two are linked: the new job's ``retry_of``, this one's
        ``retried_as()``. RetryRefusedError says why a job cannot be retried."""
        from kinetic.client.job_retry import retry

        return JobHandle.from_record(retry(self, force=force, **overrides))

    def retried_as(self) -> list[str]:
        """The ids of the jobs that retry this one, oldest first (read from the store)."""
        from kinetic.client.job_retry import retried_as

        return retried_as(self._store, self.job_id)

    # -- network ----------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        """Where each of the job's ports is reachable: name -> Endpoint (host, port, proto,
        url for http). Locally this machine; on Kubernetes the job's Service (in-cluster
        DNS name and ClusterIP; ``kinetic jobs port-forward`` reaches it from outside)."""
        return self._backend.endpoints(self)

    # -- outputs ----------------------------------------------------------------------------
    def outputs(self, attempt: int | None = None) -> list[str]:
        """Paths (relative to KINETIC_OUTPUT_DIR) of the files the job wrote there."""
        from kinetic.client import downloads

        return downloads.list_outputs(self._store, self.job_id, self._attempt(attempt))

    def download(self, dest: str | Path, attempt: int | None = None) -> list[Path]:
        """Fetch the job's outputs (its latest attempt's) into ``dest``; the files written."""
        from kinetic.client import downloads

        return downloads.download(self._store, self.job_id, Path(dest), self._attempt(attempt))

    def __repr__(self) -> str:
        # No I/O: a repr is printed by debuggers and logs, which must never block on a store.
        return f"<JobHandle {self.job_id} {self.func_name} ({self.backend})>"

    def _repr_html_(self) -> str:
        """Jupyter's display of a handle: its live state (one read)."""
        from kinetic.client.display import handle_html

        return handle_html(self)


class _Collection:
    """One job's result, shared by every caller in this process while any is collecting."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Any = _MISSING
        self.users = 0


_collections: dict[tuple[str, str], _Collection] = {}
_collections_lock = threading.Lock()


@contextlib.contextmanager
def _shared_collection(store: str, job_id: str) -> Iterator[_Collection]:
    """The collection of ``job_id`` while this caller needs it; forgotten (and its value
    released) when the last caller is done, so a process keeps no results it handed out."""
    key = (store, job_id)
    with _collections_lock:
        shared = _collections.setdefault(key, _Collection())
        shared.users += 1
    try:
        yield shared
    finally:
        with _collections_lock:
            shared.users -= 1
            if shared.users == 0:
                _collections.pop(key, None)


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def load_handle(job_id: str, store: str | None = None) -> JobHandle:
    """The handle recorded for ``job_id`` in ``store`` (default: the configured store)."""
    from kinetic.spec import settings
    from kinetic.store import ObjectNotFound, layout, open_store

    uri = settings.resolve("store", store).value
    st = open_store(uri)
    try:
        data = st.read_bytes(layout.handle_key(job_id))
    except ObjectNotFound:
        raise JobNotFoundError(job_id, st.uri, cleaned_up_at(st, job_id)) from None
    return JobHandle.from_json(data.decode())


def cleaned_up_at(store: Store, job_id: str) -> str | None:
    """When ``job_id`` was cleaned up, if the store kept its tombstone."""
    import json

    from kinetic.store import ObjectNotFound, layout

    try:
        return json.loads(store.read_bytes(layout.tombstone_key(job_id))).get("cleaned_up")
    except (ObjectNotFound, ValueError):
        return None
