"""kopf handlers: thin. They keep in-memory indexes of what the watches show, and hand
every change to the ``Controller`` (controller.py), which decides with pure functions and
acts with few requests.

Where it sits: this is where kopf calls in. The startup handler makes the one Controller
from the ``Settings`` that ``kinetic operator run`` put in kopf's memo (operator_settings.py; read
from the environment here when run as ``kopf run -m kinetic_operator``) and keeps it in
the operator's memo, which kopf copies into every object's memo: each handler finds it
there. The cleanup handler stops it.

Watches only, no polling: KineticJobs, and Jobs and Pods carrying Kinetic's
``app.kubernetes.io/managed-by`` label. The handlers use ``on.event`` (no kopf progress
annotations, no finalizers), so the only writes are: one Job create per job, status patches
when the derived status changes, a Job delete on cancel, and Events on transitions (plus
the heartbeat Lease, renewed every 15 s: one object, not a poll over jobs). A KineticJob's
deletion releases everything the operator kept for it (state.py).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kinetic.k8s.batch_items import queued_again
from kinetic.k8s.names import (
    BATCH_PLURAL,
    GROUP,
    LABEL_BATCH,
    LABEL_BATCH_INDEX,
    LABEL_JOB_ID,
    MANAGED_BY,
    PLURAL,
    VERSION,
)
from kinetic_operator import kopf_tuning
from kinetic_operator.batch_driver import BatchDriver
from kinetic_operator.controller import Controller
from kinetic_operator.indexes import Indexes
from kinetic_operator.operator_settings import Settings
from kinetic_operator.progress_server import pod_ref

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}


@kopf.on.startup()  # type: ignore[arg-type]  # kopf's protocols want every kwarg
def start(
    settings: kopf.OperatorSettings,
    memo: kopf.Memo,
    kineticjobs: kopf.Index,
    jobs: kopf.Index,
    pods: kopf.Index,
    pod_refs: kopf.Index,
    dependents: kopf.Index,
    kineticbatches: kopf.Index,
    batch_items: kopf.Index,
    **_: Any,
) -> None:
    # Events are posted deliberately, on transitions only: no handler log becomes one.
    # (posting.enabled=False would silence kopf.event() as well.)
    settings.posting.level = logging.CRITICAL + 10
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 20
    kopf_tuning.tune(settings)  # no per-event deep copy for diffs nothing here reads
    config = memo.get("kinetic_settings") or Settings.from_env()
    # The indexes are live views, empty until the watches fill them; the Controller reads
    # them on every sync, including those that timers and the progress endpoint start.
    memo.controller = Controller.start(
        config, Indexes(kineticjobs, jobs, pods, pod_refs, dependents, kineticbatches)
    )
    memo.batch_driver = BatchDriver(memo.controller.cluster, kineticbatches, batch_items,
                                    memo.controller.requeue, memo.controller.created)  # fmt: skip


@kopf.on.cleanup()
def stop(memo: kopf.Memo, **_: Any) -> None:
    if (driver := memo.get("batch_driver")) is not None:
        driver.stop()
    if (controller := memo.get("controller")) is not None:
        controller.stop()


def _controller(memo: kopf.Memo) -> Controller:
    controller: Controller = memo.controller
    return controller.in_handler()


# -- indexes: the operator's picture of the cluster, kept current by the watches ---------------
# Coroutines, though they never wait: kopf calls a plain function through its thread pool
# (a hand-off and a future per call, three calls per event), a coroutine on its loop.
@kopf.index(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def kineticjobs(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, name): dict(body)}


@kopf.index(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def dependents(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict:
    """(namespace, dependency) → the KineticJobs waiting for it (spec.dependsOn)."""
    return {(namespace, dep): name for dep in spec.get("dependsOn") or []}


@kopf.index("batch", "v1", "jobs", labels=MANAGED)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def jobs(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels.get(LABEL_JOB_ID)): dict(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def pods(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels.get(LABEL_JOB_ID)): dict(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)
async def pod_refs(uid: str, body: kopf.Body, **_: Any) -> dict:
    """Pod uid → (namespace, job id, attempt): whom a progress report's token speaks for."""
    return {uid: ref} if (ref := pod_ref(body)) else {}


# -- events: every change to a job's objects re-syncs that job ----------------------------------
@kopf.on.event(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
def kineticjob_changed(
    event: dict, namespace: str, name: str, uid: str, labels: kopf.Labels, memo: kopf.Memo,
    **_: Any,
) -> None:  # fmt: skip
    """One handler for every KineticJob event, a batch's items too (one call per event
    through kopf's executor, not two)."""
    if event.get("type") == "DELETED":
        _controller(memo).job_deleted((namespace, name), uid)
    else:
        _controller(memo).sync(namespace, name)
    if batch_id := labels.get(LABEL_BATCH):  # a batch's item: its batch's counts and slots
        memo.batch_driver.sync(namespace, batch_id)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
def job_changed(namespace: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    _controller(memo).sync(namespace, labels.get(LABEL_JOB_ID))


@kopf.on.event("", "v1", "pods", labels=MANAGED)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
def pod_changed(
    event: dict, namespace: str, labels: kopf.Labels, uid: str, memo: kopf.Memo, **_: Any
) -> None:
    controller = _controller(memo)
    deleted = event.get("object") if event.get("type") == "DELETED" else None
    if deleted is not None:
        controller.pod_deleted(uid)
    controller.sync(namespace, labels.get(LABEL_JOB_ID), deleted)


# -- batches (f.run_async_map): the KineticBatch and its items drive batch_driver.py -----------
@kopf.index(GROUP, VERSION, BATCH_PLURAL)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def kineticbatches(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, name): dict(body)}


@kopf.index(GROUP, VERSION, PLURAL, labels={LABEL_BATCH: kopf.PRESENT})  # type: ignore[arg-type]  # kopf's protocols want every kwarg
async def batch_items(
    namespace: str, labels: kopf.Labels, spec: kopf.Spec, status: kopf.Status, body: kopf.Body,
    **_: Any,
) -> dict:  # fmt: skip
    """(namespace, batch id) → (index, phase, cancel asked, queued again by retry_failed())
    of each of its items: small."""
    item = (int(labels.get(LABEL_BATCH_INDEX, -1)), status.get("phase") or "PENDING",
            bool(spec.get("cancel")), queued_again(body))  # fmt: skip
    return {(namespace, labels.get(LABEL_BATCH)): item}


@kopf.on.event(GROUP, VERSION, BATCH_PLURAL)  # type: ignore[arg-type]  # kopf's protocols want every kwarg
def kineticbatch_changed(event: dict, namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        memo.batch_driver.forget((namespace, name))
    else:
        memo.batch_driver.sync(namespace, name)
        _controller(memo).batch_changed(namespace, name)  # jobs waiting for the whole batch
