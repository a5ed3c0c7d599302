"""BatchHandle: a batch of jobs (``f.run_async_map``) as the caller sees it, from any process.

Holds only the batch's record (batch.json); everything else is read when asked: each
item is a job (``batch.jobs[i]`` is its JobHandle), its state its backend's. Reading a
batch also keeps it alive: a reader who finds its driver dead with work left starts the
next one, as a reader relaunches a lost job. Who drives it (a local driver, or the
operator through a KineticBatch) and the call to its driver are batch_dispatch.py's;
finding a batch again (``attach_batch``, ``list_batches``) is batch_lookup.py's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, overload

from kinetic.backends import get_backend
from kinetic.client import batch_dispatch
from kinetic.client.batch_item_states import gone as _gone
from kinetic.client.batch_item_states import k8s_item_states
from kinetic.client.handle import JobHandle
from kinetic.model.batch_record import BatchRecord, ItemFailure, count_statuses, item_job_id
from kinetic.model.errors import BatchError, JobNotFoundError
from kinetic.model.status import JobState, JobStatus, format_time, utcnow
from kinetic.store import ObjectNotFound, Store, layout, open_store


class BatchJobs(Sequence[JobHandle]):
    """The items' JobHandles, by index; each handle.json is read the first time it is asked."""

    def __init__(self, batch: BatchHandle):
        self._batch = batch
        self._cache: dict[int, JobHandle] = {}

    def __len__(self) -> int:
        return self._batch.record.count

    @overload
    def __getitem__(self, index: int) -> JobHandle: ...
    @overload
    def __getitem__(self, index: slice) -> list[JobHandle]: ...
    def __getitem__(self, index: int | slice) -> JobHandle | list[JobHandle]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch {self._batch.batch_id} has {len(self)} items")
        if index not in self._cache:
            job_id = item_job_id(self._batch.batch_id, index)
            try:
                data = self._batch._store.read_bytes(layout.handle_key(job_id))
            except ObjectNotFound:
                cleaned = "its batch's cleanup"
                raise JobNotFoundError(job_id, self._batch.record.store, cleaned) from None
            self._cache[index] = JobHandle.from_json(data.decode())
        return self._cache[index]


class BatchHandle:
    """A batch: ``batch_id``, ``jobs``, states and counts, waiting, results, control."""

    def __init__(self, record: BatchRecord):
        self.record = record
        self.jobs = BatchJobs(self)
        self._values: dict[int, Any] = {}  # collected values: results() again returns them

    @property
    def batch_id(self) -> str:
        return self.record.batch_id

    def __len__(self) -> int:
        return self.record.count

    def __repr__(self) -> str:
        return f"<BatchHandle {self.batch_id} {self.record.function} ({self.record.count} items)>"

    @property
    def _store(self) -> Store:
        return open_store(self.record.store)

    # -- status -----------------------------------------------------------------------------
    def states(self) -> list[JobState]:
        """Every item's state now, by index (a collected item is SUCCEEDED, CleanedUp)."""
        batch_dispatch.keep_driving(self)
        backend = get_backend(self.record.backend)
        collected = self._collected()
        if batch_dispatch.on_k8s(self):
            return k8s_item_states(self, backend, collected)
        states = []
        for index in range(self.record.count):
            try:
                job = self.jobs[index]
            except JobNotFoundError:
                states.append(_gone(index, collected))
                continue
            state = backend.state(job)
            if state.status == JobStatus.NOT_FOUND:
                self.jobs._cache.pop(index, None)
                state = _gone(index, collected)
            states.append(state)
        return states

    def statuses(self) -> list[JobStatus]:
        return [s.status for s in self.states()]

    def status_counts(self) -> dict[str, int]:
        """``{"SUCCEEDED": 912, "RUNNING": 32, "PENDING": 50, "FAILED": 6}``: those present."""
        return count_statuses(self.states())

    def done(self) -> bool:
        return all(s.status.is_terminal for s in self.states())

    def wait(self, timeout: float | None = None, *, progress: bool | None = None) -> dict[str, int]:
        """Block until every item has ended; the counts. TimeoutError leaves it running.

        ``progress``: a live line of counts on stderr (None: where a terminal watches)."""
        show = sys.stderr.isatty() if progress is None else progress
        deadline = None if timeout is None else time.monotonic() + timeout
        poll, shown = 0.05, 0.0
        try:
            while True:
                # The driver's done.json says every item ended: one read, not one per item.
                # Every item's state is read for the progress line only (once a second).
                batch_dispatch.keep_driving(self)
                if batch_dispatch.finished(self):
                    states = self.states()
                    if all(s.status.is_terminal for s in states):
                        return count_statuses(states)
                if show and time.monotonic() - shown >= 1.0:
                    shown = time.monotonic()
                    line = counts_line(self.status_counts(), len(self))
                    print(f"\r[kinetic] {self.batch_id}: {line}", end="", file=sys.stderr,
                          flush=True)  # fmt: skip
                if deadline is not None and time.monotonic() >= deadline:
                    line = counts_line(self.status_counts(), len(self))
                    raise TimeoutError(
                        f"batch {self.batch_id} not finished after {timeout}s ({line}); "
                        "it keeps running"
                    )
                time.sleep(poll)
                poll = min(poll * 1.5, 0.5)
        finally:
            if show:
                print(file=sys.stderr)

    def as_completed(self, timeout: float | None = None) -> Iterator[JobHandle]:
        """The items' JobHandles as they end (succeeded or not), each once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: set[int] = set()
        poll = 0.05
        while len(seen) < len(self):
            for index, state in enumerate(self.states()):
                if index not in seen and state.status.is_terminal:
                    seen.add(index)
                    try:
                        yield self.jobs[index]
                    except JobNotFoundError:  # collected and cleaned up: nothing to hand
                        continue
            if len(seen) < len(self):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"batch {self.batch_id}: {len(seen)} of {len(self)} "
                                       f"items ended after {timeout}s")  # fmt: skip
                time.sleep(poll)
                poll = min(poll * 1.5, 1.0)

    # -- results ------------------------------------------------------------------------------
    def _outcome(self, index: int, state: JobState) -> tuple[bool, Any]:
        """(True, value) or (False, the exception result() raises) for an ended item."""
        if index in self._values:
            return True, self._values[index]
        try:
            value = self.jobs[index].result(cleanup=False)
        except Exception as exc:
            return False, exc
        self._values[index] = value
        return True, value

    def results(
        self,
        ordered: bool = True,
        cleanup: bool = True,
        return_exceptions: bool = False,
        timeout: float | None = None,
    ) -> list[Any]:
        """Every item's value, waiting for the batch to end.

        ``ordered``: in input order (else in the order the items ended). A failed item
        raises BatchError (with its failures and every value that was had) unless
        ``return_exceptions``, which puts its exception in its place. ``cleanup``: the
        items that succeeded are removed once collected (their values stay here); the
        failed ones keep their evidence; the batch's record stays, saying what was collected.
        Nothing is removed while a job that waits for the whole batch has not ended.
        """
        self.wait(timeout, progress=False)
        states = self.states()
        order = range(len(self)) if ordered else _ended_order(states)
        inputs = self._inputs()
        values: list[Any] = []
        failures: list[ItemFailure] = []
        partial: dict[int, Any] = {}
        for index in order:
            ok, value = self._outcome(index, states[index])
            if ok:
                partial[index] = value
            else:
                failures.append(ItemFailure(index, item_job_id(self.batch_id, index),
                                            inputs[index] if index < len(inputs) else "?",
                                            states[index].reason, value))  # fmt: skip
            values.append(value)
        if cleanup and not self._awaited():  # a job waiting for the batch needs its items
            self._collect(sorted(partial), [f.index for f in failures])
        if failures and not return_exceptions:
            raise BatchError(self.batch_id, failures, partial, [])
        return values

    def failures(self) -> list[ItemFailure]:
        """The items that ended without success so far (each with its exception)."""
        inputs = self._inputs()
        found = []
        for index, state in enumerate(self.states()):
            if state.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                _, exc = self._outcome(index, state)
                found.append(ItemFailure(index, item_job_id(self.batch_id, index),
                                         inputs[index] if index < len(inputs) else "?",
                                         state.reason, exc if isinstance(exc, BaseException)
                                         else None))  # fmt: skip
        return found

    # -- control ----------------------------------------------------------------------------
    def cancel(self, wait: bool = True, timeout: float | None = None) -> dict[str, int]:
        """Stop the batch: waiting items never start, running ones are cancelled (each
        ends CANCELLED with its logs and outputs kept). The counts, after (``wait``)."""
        batch_dispatch.request_cancel(self)
        batch_dispatch.keep_driving(self)
        if not wait:
            return self.status_counts()
        return self.wait(timeout if timeout is not None else 120.0, progress=False)

    def retry_failed(self) -> list[int]:
        """Run the failed items again (and those fail_fast never started), in this batch:
        each gets a new attempt; earlier attempts' logs and results are kept. The indices."""
        queued = batch_dispatch.queue_failed_again(self)
        for index in queued:
            self._values.pop(index, None)
        batch_dispatch.keep_driving(self)
        return queued

    def cleanup(self) -> None:
        """Remove the batch: its running items are cancelled, then every item and the
        batch's own records are deleted."""
        if not all(s.status.is_terminal for s in self.states()):
            self.cancel(wait=True)
        batch_dispatch.delete_driver(self)
        for index in range(len(self)):
            try:
                self.jobs[index].cleanup()
            except JobNotFoundError:
                continue
        self._store.delete_prefix(layout.batch_prefix(self.batch_id))
        batch_dispatch.forget_driver(self)

    def notifications(self) -> list[dict[str, Any]]:
        """notify=: the delivery of the batch's one summary, by host ([] before its end)."""
        return batch_dispatch.notifications(self)

    def _awaited(self) -> bool:
        """Whether a job waiting for the whole batch (docs/pipelines.md) has not ended."""
        store = self._store
        for job_id in store.list_children(layout.batch_dependents_prefix(self.batch_id)):
            try:
                job = JobHandle.from_json(store.read_bytes(layout.handle_key(job_id)).decode())
            except ObjectNotFound:
                continue  # an unfinished submission's marker, or a dependent cleaned up
            if not get_backend(job.backend).state(job).status.is_terminal:
                return True
        return False

    # -- records ------------------------------------------------------------------------------
    def _inputs(self) -> list[str]:
        try:
            return json.loads(self._store.read_bytes(layout.batch_inputs_key(self.batch_id)))
        except ObjectNotFound:
            return []

    def _collected(self) -> dict[str, Any]:
        try:
            return json.loads(self._store.read_bytes(layout.batch_collected_key(self.batch_id)))
        except ObjectNotFound:
            return {}

    def collected(self) -> dict[str, Any]:
        """What results(cleanup=True) collected and removed: ``{"at", "succeeded", "failed"}``."""
        return self._collected()

    def _collect(self, succeeded: list[int], failed: list[int]) -> None:
        """Remove the collected items; record which, so the batch still says so."""
        before = self._collected()
        done = sorted(set(before.get("succeeded") or []) | set(succeeded))
        record = {"at": format_time(utcnow()), "succeeded": done, "failed": failed}
        self._store.write_bytes(layout.batch_collected_key(self.batch_id),
                                json.dumps(record).encode())  # fmt: skip
        for index in succeeded:
            try:
                self.jobs[index].cleanup()
            except JobNotFoundError:
                continue
            self.jobs._cache.pop(index, None)


def _ended_order(states: list[JobState]) -> list[int]:
    """Indices by when the items ended (one collected already has no time: first)."""
    now = utcnow()
    return sorted(
        range(len(states)),
        key=lambda i: (states[i].finished is not None, states[i].finished or now, i),
    )


def counts_line(counts: dict[str, int], total: int) -> str:
    """ "912/1000 succeeded, 6 failed, 32 running, 50 pending" (pure)."""
    parts = [f"{counts.get('SUCCEEDED', 0)}/{total} succeeded"]
    for status in ("FAILED", "CANCELLED", "RUNNING", "PENDING", "NOT_FOUND"):
        if counts.get(status):
            parts.append(f"{counts[status]} {status.lower().replace('_', ' ')}")
    return ", ".join(parts)
