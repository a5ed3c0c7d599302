"""The operator's batch driver: runs each KineticBatch to its end (f.run_async_map).

Where it sits: kopf's handlers (handlers.py) call ``BatchDriver.sync`` on every event of
a KineticBatch and of a KineticJob labelled with a batch (kinetic.dev/batch). ``sync``
reads the batch and its items from kopf's indexes, asks ``decide_batch``
(batch_decisions.py) what to do, creates the next items' KineticJobs (named
BATCH_ID-INDEX: a create that finds one is a no-op, so a restarted operator never runs an
item twice), sets spec.cancel on items to cancel, and patches the batch's counts, all through
``Cluster`` (cluster.py). The
items themselves are then ordinary jobs: the Controller (controller.py) runs them.

What it remembers between syncs (per batch, dropped with the batch): the items it created
whose watch event has not come yet, and the status it last wrote (the index lags).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kinetic.k8s.kineticbatch import item_kineticjob
from kinetic.k8s.names import LABEL_BATCH_REQUEUED
from kinetic.model.batch_record import item_job_id
from kinetic_operator import batch_notifier
from kinetic_operator.batch_decisions import Item, decide_batch, status_changes
from kinetic_operator.cluster import Cluster

log = logging.getLogger("kinetic.operator")

Key = tuple[str, str]  # (namespace, batch id)
RETRY_DELAY = 2.0
# A batch's counts change on every event of every item: written at most this often, so a
# batch of N items costs far fewer than N status writes per item state change.
STATUS_INTERVAL = 1.0
# Items created at once, over every batch (one pool), when many slots are free. Each is a
# KineticJob create, then its Job's (Controller.created): two round trips to an API server
# that a burst keeps busy, so the start rate follows how many are in flight (1,000 items
# on the test control plane: 35-40 items/s with 8, 57-59 with 16, 53-85 with 32, 72-91
# with 64; docs/benchmarks.md).
CREATE_THREADS = 64
# A sync reads every item of the batch (O(items)) and every item's event asks for one:
# at most one sync in this many seconds per batch, the events meanwhile folded into it.
# (Unthrottled, a 1,000-item batch starting spent a sixth of the operator's CPU here.)
SYNC_INTERVAL = 0.2


@dataclass(eq=False)
class BatchMemory:
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    uid: str | None = None
    just_created: set[int] = field(default_factory=set)
    just_released: set[int] = field(default_factory=set)
    written: dict[str, Any] = field(default_factory=dict)
    retry: threading.Timer | None = None
    notifying: bool = False  # notify=: the summary's delivery runs on a thread
    # Events that came while a sync ran: that sync goes round once more for them.
    dirty: bool = False
    # Counts are written at most every STATUS_INTERVAL (a phase change at once).
    written_at: float = float("-inf")  # time.monotonic()
    flush: threading.Timer | None = None
    # When the last sync began, and the timer that runs the next one (SYNC_INTERVAL).
    synced_at: float = float("-inf")  # time.monotonic()
    soon: threading.Timer | None = None


class BatchDriver:
    """Syncs batches for one operator process."""

    def __init__(
        self,
        cluster: Cluster,
        batches: Mapping[Key, Iterable[dict]],
        items: Mapping[Key, Iterable[tuple[int, str, bool, bool]]],
        requeue: Callable[[str, str], bool] | None = None,
        created: Callable[[str, dict], None] | None = None,
    ) -> None:
        """``requeue(namespace, job id)``: start a queued-again item's next attempt
        (Controller.requeue); True if it did. ``created(namespace, kineticjob)``: an item
        just created, as the API server answered (Controller.created): its Job is made
        at once, not a watch event later."""
        self.cluster, self.batches, self.items = cluster, batches, items
        self.requeue, self.created = requeue, created
        self._memory: dict[Key, BatchMemory] = {}
        self._guard = threading.Lock()
        self._creates = ThreadPoolExecutor(CREATE_THREADS, thread_name_prefix="kinetic-create")

    def stop(self) -> None:
        """The operator stops: creates not started yet are dropped (the next run's sync
        makes them: a batch's items are decided from what exists)."""
        self._creates.shutdown(wait=False, cancel_futures=True)

    def forget(self, key: Key) -> None:
        """The KineticBatch is deleted (its items go with it: owner references)."""
        with self._guard:
            memory = self._memory.pop(key, None)
        for timer in (memory.retry, memory.flush, memory.soon) if memory is not None else ():
            if timer is not None:
                timer.cancel()

    def sync(self, namespace: str, batch_id: str | None) -> None:
        """Never raises: a failed request is logged and the sync tried again shortly."""
        if not batch_id:
            return
        key = (namespace, batch_id)
        with self._guard:
            memory = self._memory.setdefault(key, BatchMemory())
        # Every event of every item lands here, on kopf's few handler threads: one sync at
        # a time per batch, and an event that comes meanwhile only asks it to go round once
        # more (handlers never queue up behind the batch's lock, starving the jobs' syncs).
        memory.dirty = True
        while memory.dirty:
            if not memory.lock.acquire(blocking=False):
                return  # the running sync will see dirty
            try:
                while memory.dirty:
                    wait = memory.synced_at + SYNC_INTERVAL - time.monotonic()
                    if wait > 0:  # dirty stays set: the timer's sync does it
                        if not _pending(memory.soon):
                            memory.soon = _timer(wait, self.sync, key)
                        return
                    memory.dirty = False
                    memory.synced_at = time.monotonic()
                    self._sync_once(key, memory)
            finally:
                memory.lock.release()

    def _sync_once(self, key: Key, memory: BatchMemory) -> None:
        try:
            self._sync(key, memory)
        except Exception as exc:
            problem = str(getattr(exc, "body", "") or exc)[:500]  # the API server's answer
            log.warning("batch %s/%s: %s; trying again in %.0f s", *key, problem, RETRY_DELAY)
            if not _pending(memory.retry):
                memory.retry = _timer(RETRY_DELAY, self.sync, key)

    def _sync(self, key: Key, memory: BatchMemory) -> None:
        found = list(self.batches.get(key, []))
        if not found:
            self.forget(key)
            return
        batch = found[-1]
        uid = batch["metadata"].get("uid")
        if memory.uid not in (None, uid):  # a new batch of the same name
            memory.just_created, memory.just_released, memory.written = set(), set(), {}
        memory.uid = uid
        status = {**(batch.get("status") or {}), **memory.written}
        items = {index: Item(phase, cancel, queued)
                 for index, phase, cancel, queued in self.items.get(key, [])}  # fmt: skip
        if status.get("phase") in ("SUCCEEDED", "FAILED", "CANCELLED") and not any(
            item.queued for item in items.values()
        ):
            # Ended (and no retry_failed()): its items may be collected and deleted.
            self._notify(key, memory, batch, status, items)
            return
        memory.just_created -= set(items)
        memory.just_released -= {i for i, item in items.items() if not item.queued}
        step = decide_batch(batch["spec"], status, items, frozenset(memory.just_created),
                            frozenset(memory.just_released))  # fmt: skip
        namespace = key[0]
        for index in step.release:
            if self.requeue is not None and self.requeue(namespace, item_job_id(key[1], index)):
                memory.just_released.add(index)
        if step.release:
            log.info("batch %s/%s: started items again %s", *key, list(step.release))
        for index in step.unqueue:  # the batch stopped: they stay as they ended
            self.cluster.label_kineticjob(namespace, item_job_id(key[1], index),
                                          {LABEL_BATCH_REQUEUED: None})  # fmt: skip
        if step.create:
            self._create(namespace, batch, step.create, memory)
            log.info("batch %s/%s: created items %s", *key, list(step.create))
        for index in step.cancel:
            self.cluster.cancel_kineticjob(namespace, item_job_id(key[1], index))
        patch = status_changes(status, step.status)
        if not patch:
            return
        wait = memory.written_at + STATUS_INTERVAL - time.monotonic()
        if wait <= 0 or {"phase", "stopped"} & set(patch):
            self._patch_status(key, memory, patch)
            self._notify(key, memory, batch, {**status, **patch}, items)
        elif not _pending(memory.flush):
            memory.flush = _timer(wait, self.sync, key)  # the latest counts, then

    def _create(self, namespace: str, batch: dict, indexes: tuple[int, ...],
                memory: BatchMemory) -> None:  # fmt: skip
        """Create the items' KineticJobs, a few requests at a time (a batch that starts
        hundreds at once is not held to one round trip per item). A create that finds the
        item (409) is fine: a lost answer, an earlier run. Each one created holds its slot
        (``just_created``) even if another failed; status.created follows with the counts
        (a restart before it goes on from what kopf's index shows, filled before any
        handler runs)."""

        def one(index: int) -> None:
            kj = self.cluster.create_kineticjob(namespace, dict(item_kineticjob(batch, index)))
            if kj is not None and self.created is not None:
                self.created(namespace, kj)  # its Job now, on this thread (never raises)

        futures = {index: self._creates.submit(one, index) for index in indexes}
        failure = None
        for index, future in futures.items():
            if future.exception() is None:
                memory.just_created.add(index)
            else:
                failure = failure or future.exception()
        if failure is not None:
            raise failure

    def _notify(self, key: Key, memory: BatchMemory, batch: dict, status: dict,
                items: Mapping[int, Item]) -> None:  # fmt: skip
        """notify=: post the ended batch's one summary, on a thread of its own."""
        if memory.notifying or not batch_notifier.summary_due(batch["spec"], status):
            return
        failed = [i for i, item in items.items() if item.phase == "FAILED"]
        note = batch_notifier.summary_of(batch, status, failed)
        self._patch_status(key, memory, {"notifications": batch_notifier.sending(batch["spec"])})
        memory.notifying = True
        threading.Thread(target=self._deliver, args=(key, memory, batch["spec"], note),
                         daemon=True).start()  # fmt: skip

    def _deliver(self, key: Key, memory: BatchMemory, spec: dict, note: dict) -> None:
        records = batch_notifier.deliver_summary(self.cluster, key[0], spec, note)
        with memory.lock:
            try:
                self._patch_status(key, memory, {"notifications": records})
            except Exception as exc:  # deleted meanwhile, or the API server refused
                log.warning("batch %s/%s: cannot record the summary's delivery: %s", *key, exc)
            memory.notifying = False
        if memory.dirty:  # an event came while this held the lock: its sync left it to us
            self.sync(*key)

    def _patch_status(self, key: Key, memory: BatchMemory, patch: dict[str, Any]) -> None:
        self.cluster.patch_batch_status(*key, patch)
        memory.written.update(patch)
        memory.written_at = time.monotonic()


def _timer(delay: float, fn: Callable[..., None], key: Key) -> threading.Timer:
    timer = threading.Timer(delay, fn, list(key))
    timer.daemon = True
    timer.start()
    return timer


def _pending(timer: threading.Timer | None) -> bool:
    """Whether ``timer`` is still to fire (the timer now running this code has fired)."""
    return timer is not None and timer.is_alive() and timer is not threading.current_thread()
