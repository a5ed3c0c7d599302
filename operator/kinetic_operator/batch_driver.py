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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kinetic.k8s.kineticbatch import item_kineticjob
from kinetic.k8s.names import LABEL_BATCH_REQUEUED
from kinetic.model.batch_record import item_job_id
from kinetic_operator.batch_decisions import Item, decide_batch, status_changes
from kinetic_operator.cluster import Cluster

log = logging.getLogger("kinetic.operator")

Key = tuple[str, str]  # (namespace, batch id)
RETRY_DELAY = 2.0


@dataclass(eq=False)
class BatchMemory:
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    uid: str | None = None
    just_created: set[int] = field(default_factory=set)
    just_released: set[int] = field(default_factory=set)
    written: dict[str, Any] = field(default_factory=dict)
    retry: threading.Timer | None = None


class BatchDriver:
    """Syncs batches for one operator process."""

    def __init__(
        self,
        cluster: Cluster,
        batches: Mapping[Key, Iterable[dict]],
        items: Mapping[Key, Iterable[tuple[int, str, bool, bool]]],
        requeue: Callable[[str, str], bool] | None = None,
    ) -> None:
        """``requeue(namespace, job id)``: start a queued-again item's next attempt
        (Controller.requeue); True if it did."""
        self.cluster, self.batches, self.items = cluster, batches, items
        self.requeue = requeue
        self._memory: dict[Key, BatchMemory] = {}
        self._guard = threading.Lock()

    def forget(self, key: Key) -> None:
        """The KineticBatch is deleted (its items go with it: owner references)."""
        with self._guard:
            memory = self._memory.pop(key, None)
        if memory is not None and memory.retry is not None:
            memory.retry.cancel()

    def sync(self, namespace: str, batch_id: str | None) -> None:
        """Never raises: a failed request is logged and the sync tried again shortly."""
        if not batch_id:
            return
        key = (namespace, batch_id)
        with self._guard:
            memory = self._memory.setdefault(key, BatchMemory())
        with memory.lock:
            try:
                self._sync(key, memory)
            except Exception as exc:
                problem = str(getattr(exc, "body", "") or exc)[:500]  # the API server's answer
                log.warning("batch %s/%s: %s; trying again in %.0f s", *key, problem, RETRY_DELAY)
                if memory.retry is None or not memory.retry.is_alive():
                    memory.retry = threading.Timer(RETRY_DELAY, self.sync, list(key))
                    memory.retry.daemon = True
                    memory.retry.start()

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
            return  # ended (and no retry_failed()): its items may be collected and deleted
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
        for index in step.create:
            # A create that finds the item (409) is fine: a lost answer, an earlier run.
            self.cluster.create_kineticjob(namespace, dict(item_kineticjob(batch, index)))
            memory.just_created.add(index)
            # Written at once: a restart goes on after it (and a create again is a 409).
            self._patch_status(key, memory, {"created": index + 1})
        if step.create:
            log.info("batch %s/%s: created items %s", *key, list(step.create))
        for index in step.cancel:
            self.cluster.cancel_kineticjob(namespace, item_job_id(key[1], index))
        patch = status_changes(status, step.status)
        if patch:
            self._patch_status(key, memory, patch)

    def _patch_status(self, key: Key, memory: BatchMemory, patch: dict[str, Any]) -> None:
        self.cluster.patch_batch_status(*key, patch)
        memory.written.update(patch)
