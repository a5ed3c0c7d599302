"""Who drives a batch, and the call to its driver for each of BatchHandle's questions and orders.

Where it sits: ``BatchHandle`` (batch_handle.py) speaks for any batch; the batch itself is
driven either by a detached local driver (kinetic.backends.local_batch, its files in the
store) or by the operator through a KineticBatch (kinetic.backends.k8s_batch). Each
function here asks or tells the right one: whether the batch has ended, keeping its driver
alive, stopping it, queueing failed items again, removing it, its notify= deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kinetic.backends import get_backend, k8s_batch, local_batch
from kinetic.backends.batch_notify import read_notifications
from kinetic.client.handle import JobHandle
from kinetic.model.errors import JobNotFoundError
from kinetic.model.job_record import JobRecord
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus
from kinetic.spec.job_spec import JobSpec
from kinetic.store import Store, open_store
from kinetic.system import notify_keep

if TYPE_CHECKING:
    from kinetic.client.batch_handle import BatchHandle


def _store(batch: BatchHandle) -> Store:
    return open_store(batch.record.store)


def on_k8s(batch: BatchHandle) -> bool:
    """Driven by the operator (a KineticBatch), not by a local driver."""
    return batch.record.backend == "kubernetes"


def probe(batch: BatchHandle) -> JobRecord:
    """An item's record: where the batch's KineticBatch is (namespace, kubeconfig)."""
    for index in range(len(batch)):
        try:
            return batch.jobs[index]
        except JobNotFoundError:
            continue
    fields = get_backend("kubernetes").handle_fields(JobSpec())
    return JobRecord(batch.batch_id, "kubernetes", batch.record.store, "", "", extra=fields)


def finished(batch: BatchHandle) -> bool:
    """The driver has recorded the batch's end: one read, not one per item."""
    if on_k8s(batch):
        return k8s_batch.finished(probe(batch), batch.batch_id)
    return local_batch.finished(_store(batch), batch.batch_id)


def keep_driving(batch: BatchHandle) -> None:
    """A local batch whose driver died with work left gets a new one (the operator
    drives a KineticBatch itself)."""
    if on_k8s(batch):
        return
    local_batch.ensure_driver(_store(batch), batch.record)


def request_cancel(batch: BatchHandle) -> None:
    """Tell the driver to stop: waiting items never start, running ones are cancelled."""
    if on_k8s(batch):
        k8s_batch.cancel_batch(probe(batch), batch.batch_id)
    else:
        local_batch.request_cancel(_store(batch), batch.batch_id)


def queue_failed_again(batch: BatchHandle) -> list[int]:
    """retry_failed(): the failed items (and those fail_fast never started) queued for a
    new attempt by their driver; the indices queued."""
    if on_k8s(batch):  # the operator starts them again (kinetic.k8s.batch_items)
        records: dict[int, JobHandle] = {}
        for index in range(len(batch)):
            try:
                records[index] = batch.jobs[index]
            except JobNotFoundError:
                continue
        return k8s_batch.requeue_failed(records, batch.states(), batch.batch_id)
    indices = [i for i, s in enumerate(batch.states())
               if s.status == JobStatus.FAILED or s.reason == Reason.BATCH_STOPPED]  # fmt: skip
    return local_batch.queue_again(_store(batch), batch.record, indices)


def delete_driver(batch: BatchHandle) -> None:
    """cleanup(), before the items go: the KineticBatch deleted first, so an item deleted
    under a live batch does not look lost (a local driver has ended by then)."""
    if on_k8s(batch):
        k8s_batch.delete_batch(probe(batch), batch.batch_id)


def forget_driver(batch: BatchHandle) -> None:
    """cleanup(), last: this machine's traces of a local driver (its stderr file, the
    notify= URLs kept for it)."""
    local_batch.driver_stderr_path(batch.batch_id).unlink(missing_ok=True)
    notify_keep.forget(_store(batch).uri, batch.batch_id)


def notifications(batch: BatchHandle) -> list[dict[str, Any]]:
    """notify=: the delivery of the batch's one summary, by host ([] before its end)."""
    if on_k8s(batch):
        found = k8s_batch.read_batch(probe(batch), batch.batch_id) or {}
        return list((found.get("status") or {}).get("notifications") or [])
    return list(
        (read_notifications(_store(batch), batch.batch_id) or {}).get("notifications") or []
    )
