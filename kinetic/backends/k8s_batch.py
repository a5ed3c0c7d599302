"""A batch on kubernetes, client side: its KineticBatch (create, read, cancel, delete).

Where it sits: ``submit_batch`` (kinetic.client.batch_submit) writes the items to the
store, commits batch.json, then calls ``create_batch``; from then on the operator drives
the batch (operator/kinetic_operator/batch_driver.py) with no process of the caller's
alive. ``BatchHandle`` (through kinetic.client.batch_dispatch) reads the batch's counts and stop
reason here, cancels or deletes it, and queues its failed items again
(``requeue_failed``). Connection settings (namespace, kubeconfig, context) are an
item's: every item's handle.json carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinetic.backends.kubernetes import KubernetesBackend, _api_error
from kinetic.k8s.kineticbatch import batch_secret, build_kineticbatch
from kinetic.k8s.kineticjob import build_kineticjob
from kinetic.k8s.names import BATCH_PLURAL, GROUP, LABEL_BATCH_REQUEUED, PLURAL, VERSION
from kinetic.model.batch_record import BatchRecord
from kinetic.model.errors import JobExistsError
from kinetic.model.job_record import JobRecord
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus
from kinetic.spec.job_spec import JobSpec

ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def _custom(item: JobRecord) -> Any:
    return KubernetesBackend()._custom(item)


def create_batch(
    record: BatchRecord, spec: JobSpec, item: JobRecord, urls: tuple[str, ...] = ()
) -> None:
    """Create the batch's KineticBatch: the operator creates its items from here on.
    notify=: then its Secret with the URLs, owned by it (the operator reads it at the end)."""
    template = build_kineticjob(
        item.job_id, function=record.function, store=record.store, payload_sha256="",
        spec=spec.to_dict(),
    )["spec"]  # fmt: skip
    body = build_kineticbatch(
        record.batch_id, store=record.store, total=record.count,
        max_concurrent=record.max_concurrent, fail_fast=record.fail_fast,
        cancel_running_on_fail=record.cancel_running_on_fail,
        template=template, notify_hosts=record.notify_hosts, notify_on=record.notify_on,
    )  # fmt: skip
    try:
        created = _custom(item).create_namespaced_custom_object(
            GROUP, VERSION, item.extra["namespace"], BATCH_PLURAL, body
        )
    except Exception as exc:
        if getattr(exc, "status", None) == 409:
            raise JobExistsError(f"a KineticBatch named {record.batch_id} exists already") from None
        raise _api_error(exc, f"creating KineticBatch {record.batch_id}") from None
    if urls:
        secret = batch_secret(record.batch_id, list(urls), created["metadata"]["uid"])
        try:
            KubernetesBackend().core_api(item).create_namespaced_secret(
                item.extra["namespace"], secret
            )
        except Exception as exc:  # no summary possible: the batch is not left half-made
            delete_batch(item, record.batch_id)
            raise _api_error(
                exc, f"creating Secret {secret['metadata']['name']} (notify=)"
            ) from None


def read_batch(item: JobRecord, batch_id: str) -> dict[str, Any] | None:
    """The KineticBatch as the API server has it; None once deleted."""
    return KubernetesBackend().read_kineticbatch(item, batch_id)


def finished(item: JobRecord, batch_id: str) -> bool:
    """The operator has recorded the batch's end (nothing waits, nothing runs)."""
    batch = read_batch(item, batch_id)
    return batch is None or (batch.get("status") or {}).get("phase") in ENDED


def stopped(item: JobRecord, batch_id: str) -> str | None:
    """Why items not yet created never will be (Cancelled, BatchStopped), or None."""
    batch = read_batch(item, batch_id)
    if batch is None:
        return "Cancelled"
    return ((batch.get("status") or {}).get("stopped")
            or ("Cancelled" if (batch.get("spec") or {}).get("cancel") else None))  # fmt: skip


def cancel_batch(item: JobRecord, batch_id: str) -> None:
    """spec.cancel: the operator creates no further item and cancels the running ones."""
    try:
        _custom(item).patch_namespaced_custom_object(
            GROUP, VERSION, item.extra["namespace"], BATCH_PLURAL, batch_id,
            {"spec": {"cancel": True}},
        )  # fmt: skip
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise _api_error(exc, f"cancelling KineticBatch {batch_id}") from None


def requeue_failed(
    items: Mapping[int, JobRecord], states: list[JobState], batch_id: str
) -> list[int]:
    """retry_failed(): label each failed item queued again (kinetic.k8s.batch_items), so
    the operator starts its next attempt when a slot frees; the items fail_fast never
    created are created once no failure stops the batch. Cancelled items (and a
    cancelled batch's) stay as they are. ``items``: the records there are, by index."""
    probe = next(iter(items.values()), None)
    if probe is None or (read_batch(probe, batch_id) or {}).get("spec", {}).get("cancel"):
        return []
    queued = []
    for index, state in enumerate(states):
        if state.status == JobStatus.FAILED and index in items:
            attempt = max(1, state.attempts)
            # A cancel asked of it while it failed (cancel_running_on_fail) is over: the
            # next attempt must not end at once as cancelled.
            patch = {"metadata": {"labels": {LABEL_BATCH_REQUEUED: str(attempt)}},
                     "spec": {"cancel": None, "cancelRequestedAt": None}}  # fmt: skip
            try:
                _custom(probe).patch_namespaced_custom_object(
                    GROUP, VERSION, probe.extra["namespace"], PLURAL, items[index].job_id, patch
                )
            except Exception as exc:
                if getattr(exc, "status", None) == 404:  # deleted meanwhile: nothing to run
                    continue
                raise _api_error(exc, f"queueing {items[index].job_id} again") from None
            queued.append(index)
        elif state.status == JobStatus.CANCELLED and state.reason == Reason.BATCH_STOPPED:
            queued.append(index)
    return queued


def delete_batch(item: JobRecord, batch_id: str) -> None:
    """Delete the KineticBatch; the garbage collector takes its items' KineticJobs."""
    try:
        _custom(item).delete_namespaced_custom_object(
            GROUP, VERSION, item.extra["namespace"], BATCH_PLURAL, batch_id,
            propagation_policy="Background",
        )  # fmt: skip
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise _api_error(exc, f"deleting KineticBatch {batch_id}") from None
