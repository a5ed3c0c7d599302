"""``python -m kinetic.backends.batch_supervisor --store URI BATCH_ID GENERATION``: a local
batch's driver, a detached process on this machine (started by kinetic.backends.local_batch).

It keeps up to ``max_concurrent`` of the batch's items running, each an ordinary job with
its own runner (kinetic.backends.local): it starts the next waiting item when one ends,
never more than the limit at any moment; an item's retries happen in its runner, in its
slot. Fail-fast and cancel stop the waiting items (each gets a terminal record saying
why) and, when asked, the running ones. What it knows it derives from the store on start,
so a replacement (the next generation, started by a reader who found this one dead)
continues where it stopped: an item's start is claimed write-once before its runner is
started, so no item runs twice. It exits once nothing waits and nothing runs, recording
that in ``done.json`` and, with notify=, posting the batch's one summary
(kinetic.backends.batch_notify).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

from kinetic.backends.batch_notify import notify_batch_end
from kinetic.backends.local import LAUNCH_GRACE, LocalBackend, _launch, read_json
from kinetic.backends.local_batch import generations, item_record, retries_count, skipped_state
from kinetic.model.batch_plan import BatchOptions, BatchView, plan
from kinetic.model.batch_record import BatchRecord
from kinetic.model.errors import JobExistsError, StorageError
from kinetic.model.job_record import JobRecord
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.store import ObjectNotFound, Store, layout, open_store

# How often the loop looks again: an item's end is noticed within this. A local record
# costs a file read; a bucket's, a request per item per turn (and a bucket bills them).
POLL_LOCAL, POLL_REMOTE = 0.05, 1.0
# How often it checks that it is still the batch's latest driver.
GENERATION_CHECK = 2.0


class BatchSupervisor:
    def __init__(self, store: Store, batch_id: str, generation: int):
        self.store, self.batch_id, self.generation = store, batch_id, generation
        self.backend = LocalBackend()
        self.record = BatchRecord.from_json(store.read_bytes(layout.batch_key(batch_id)))
        self.options = BatchOptions(self.record.max_concurrent, self.record.fail_fast,
                                    self.record.cancel_running_on_fail)  # fmt: skip
        self.jobs: dict[int, JobRecord] = {}
        self.queued: list[int] = []
        self.active: dict[int, float] = {}  # index -> when this driver saw it start
        self.failed = False
        self.retries_seen = 0
        self.stopped: set[int] = set()  # asked to stop once: not again on every turn

    # -- what exists ----------------------------------------------------------------------
    def job(self, index: int) -> JobRecord | None:
        if index not in self.jobs:
            found = item_record(self.store, self.batch_id, index)
            if found is None:
                return None
            self.jobs[index] = found
        return self.jobs[index]

    def classify(self, index: int) -> None:
        """Place item ``index`` as the store says it is: ended, waiting, or started."""
        job = self.job(index)
        if job is None:
            return  # cleaned up: nothing to drive
        state = self.backend.state(job)
        if state.status.is_terminal or state.status == JobStatus.NOT_FOUND:
            self.failed |= state.status == JobStatus.FAILED
            return
        if state.reason == Reason.BATCH_QUEUED:
            claim = layout.batch_item_claim_key(self.batch_id, index, state.attempts + 1)
            if not self.store.exists(claim):
                self.queued.append(index)
                return
        self.active[index] = time.monotonic()

    def scan(self) -> None:
        self.queued, self.active, self.failed = [], {}, False
        self.retries_seen = self.retries_count()
        for index in range(self.record.count):
            self.classify(index)
        self.queued.sort()

    def retries_count(self) -> int:
        return retries_count(self.store, self.batch_id)

    # -- acting -----------------------------------------------------------------------------
    def launch(self, index: int) -> None:
        job = self.job(index)
        if job is None:
            return
        state = self.backend.state(job)
        if state.reason != Reason.BATCH_QUEUED:  # ended (cancelled by hand) or started
            self.classify(index)
            return
        attempt = state.attempts + 1
        try:
            claim = layout.batch_item_claim_key(self.batch_id, index, attempt)
            self.store.write_bytes(claim, json.dumps({"at": format_time(utcnow()),
                                                      "driver": self.generation}).encode(),
                                   if_absent=True)  # fmt: skip
        except JobExistsError:
            self.active[index] = time.monotonic()  # an earlier driver started it
            return
        self.active[index] = time.monotonic()
        try:
            _launch(self.store, job, {}, attempt)
        except (OSError, StorageError) as exc:  # no runner: the item ends saying why
            failed = JobState(
                JobStatus.FAILED, reason=Reason.RUNNER_ERROR, created=state.created,
                message=f"its runner could not be started: {type(exc).__name__}: {exc}",
                finished=utcnow(), attempts=attempt, previous_attempts=state.previous_attempts,
            )  # fmt: skip
            with contextlib.suppress(StorageError):
                self.store.write_bytes(layout.state_key(job.job_id),
                                       json.dumps(failed.to_dict()).encode())  # fmt: skip

    def skip(self, indices: tuple[int, ...], reason: str) -> None:
        message = ("its batch was cancelled before it started" if reason == Reason.CANCELLED
                   else "not started: another item of its fail_fast batch failed")  # fmt: skip
        for index in indices:
            job = self.job(index)
            if job is None:
                continue
            state = self.backend.state(job)
            if state.reason == Reason.BATCH_QUEUED:
                ended = skipped_state(state, reason, message)
                self.store.write_bytes(layout.state_key(job.job_id),
                                       json.dumps(ended.to_dict()).encode())  # fmt: skip
        self.queued = [i for i in self.queued if i not in set(indices)]

    def stop_running(self) -> None:
        for index in list(self.active):
            job = self.job(index)
            if job is not None and index not in self.stopped:
                self.stopped.add(index)
                with contextlib.suppress(Exception):  # ended meanwhile: nothing to stop
                    self.backend.cancel(job, wait=False)

    def refresh(self) -> None:
        """Drop the items that ended; an item whose start was claimed by a driver that
        died before starting its runner is ended honestly (never started twice)."""
        for index in list(self.active):
            job = self.job(index)
            state = self.backend.state(job) if job is not None else None
            if state is None or state.status.is_terminal or state.status == JobStatus.NOT_FOUND:
                del self.active[index]
                self.failed |= state is not None and state.status == JobStatus.FAILED
            elif state.reason == Reason.BATCH_QUEUED and self._claim_expired(index, state):
                assert job is not None
                lost = JobState(
                    JobStatus.FAILED, reason=Reason.LOST, created=state.created,
                    message="its batch's driver stopped while starting it; retry_failed() "
                    "runs it again", finished=utcnow(), attempts=state.attempts + 1,
                    previous_attempts=state.previous_attempts,
                )  # fmt: skip
                self.store.write_bytes(layout.state_key(job.job_id),
                                       json.dumps(lost.to_dict()).encode())  # fmt: skip

    def _claim_expired(self, index: int, state: JobState) -> bool:
        key = layout.batch_item_claim_key(self.batch_id, index, state.attempts + 1)
        claim = read_json(self.store, key) or {}
        at = parse_time(claim.get("at"))
        return at is not None and (utcnow() - at).total_seconds() > LAUNCH_GRACE

    # -- the loop ---------------------------------------------------------------------------
    def superseded(self) -> bool:
        gens = generations(self.store, self.batch_id)
        return bool(gens) and gens[-1] > self.generation

    def run(self) -> int:
        while True:
            try:
                return self._drive()
            except StorageError as exc:
                gone = isinstance(exc, ObjectNotFound)
                if gone and not self.store.exists(layout.batch_key(self.batch_id)):
                    return 0  # the batch was cleaned up under it
                # A store that failed a request (a bucket's hiccup): this driver is the
                # batch's only one while its caller is gone, so it waits and starts over
                # from what the store says, rather than leave the batch to the next reader.
                print(f"[kinetic] batch {self.batch_id}: {exc}; again in 5 s", file=sys.stderr)
                time.sleep(5.0)

    def _drive(self) -> int:
        self.scan()
        last_check = time.monotonic()
        while True:
            if time.monotonic() - last_check > GENERATION_CHECK:
                last_check = time.monotonic()
                if self.superseded() or not self.store.exists(layout.batch_key(self.batch_id)):
                    return 0  # a newer driver has it, or the batch was cleaned up
            if self.retries_count() != self.retries_seen:
                self.scan()  # retry_failed() queued items again
            self.refresh()
            cancel = self.store.exists(layout.batch_cancel_key(self.batch_id))
            view = BatchView(tuple(self.queued), len(self.active), self.failed, cancel)
            decision = plan(view, self.options)
            if decision.skip:
                self.skip(decision.skip, decision.skip_reason or Reason.CANCELLED)
            if decision.stop_running:
                self.stop_running()
            for index in decision.launch:
                self.queued.remove(index)
                self.launch(index)
            if decision.done:
                done = {"finished": format_time(utcnow()), "retries": self.retries_seen,
                        "generation": self.generation}  # fmt: skip
                self.store.write_bytes(layout.batch_done_key(self.batch_id),
                                       json.dumps(done).encode())  # fmt: skip
                if self.retries_count() == self.retries_seen:
                    notify_batch_end(self.store, self.record, self.retries_seen)  # notify=
                    return 0
                continue  # a retry came while it was finishing: drive it too
            time.sleep(POLL_LOCAL if self.store.uri.startswith("file:") else POLL_REMOTE)


USAGE = "usage: python -m kinetic.backends.batch_supervisor --store URI BATCH_ID GENERATION"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 4 or args[0] != "--store" or not args[3].isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    store = open_store(args[1])
    layout.validate_batch_id(args[2])
    try:
        return BatchSupervisor(store, args[2], int(args[3])).run()
    except ObjectNotFound:
        return 0  # the batch was cleaned up under it


if __name__ == "__main__":
    sys.exit(main())
