"""The KineticBatch custom resource (f.run_async_map on kubernetes) and its items' bodies.

Where it sits: the client creates one KineticBatch per batch (kinetic.backends.k8s_batch)
after writing the items to the store; the operator (kinetic_operator.batch_driver) reads
its spec and creates each item's KineticJob from the spec's template as a slot frees
(``item_kineticjob``). Nothing in it grows with the number of items: the spec holds one
template and the status only counts.
"""

from __future__ import annotations

from typing import Any, cast

from kinetic.k8s.kineticjob import build_secret
from kinetic.k8s.kineticjob_body import KineticJob, KineticJobSpec
from kinetic.k8s.names import (
    API_VERSION,
    BATCH_KIND,
    KIND,
    LABEL_BATCH,
    LABEL_BATCH_INDEX,
    LABEL_JOB_ID,
    SELECTOR,
)
from kinetic.model.batch_record import item_job_id


def build_kineticbatch(
    batch_id: str,
    *,
    store: str,
    total: int,
    max_concurrent: int,
    fail_fast: bool,
    cancel_running_on_fail: bool,
    template: KineticJobSpec,
    notify_hosts: list[str] | None = None,
    notify_on: list[str] | None = None,
) -> dict[str, Any]:
    """The KineticBatch for a committed batch; ``template`` is an item's KineticJob spec
    (kinetic.k8s.kineticjob.build_kineticjob) without its payload digest.
    ``notify_hosts``: the batch's one summary goes there (the URLs are in the batch's
    Secret, ``batch_secret``); the template never has notify of its own."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": BATCH_KIND,
        "metadata": {"name": batch_id, "labels": {**SELECTOR, LABEL_BATCH: batch_id}},
        "spec": {
            "batchId": batch_id,
            "store": store,
            "total": int(total),
            "maxConcurrent": int(max_concurrent),
            "failFast": bool(fail_fast),
            "cancelRunningOnFail": bool(cancel_running_on_fail),
            "template": {k: v for k, v in template.items() if k != "notify"},
        },
    }
    if notify_hosts:
        body["spec"]["notify"] = {"hosts": list(notify_hosts)}
        if notify_on is not None:
            body["spec"]["notify"]["on"] = list(notify_on)
    return body


def batch_secret(batch_id: str, urls: list[str], owner_uid: str) -> dict[str, Any]:
    """The Secret holding a batch's notify URLs (key kinetic-notify-urls, as a job's),
    owned by its KineticBatch: deleted with it. Only the operator reads it."""
    from kinetic.spec.notify_options import NOTIFY_SECRET_KEY

    secret = build_secret(batch_id, {NOTIFY_SECRET_KEY: "\n".join(urls)})
    secret["metadata"]["labels"] = {**SELECTOR, LABEL_BATCH: batch_id}
    owner = {"apiVersion": API_VERSION, "kind": BATCH_KIND, "name": batch_id,
             "uid": owner_uid, "controller": True}  # fmt: skip
    secret["metadata"]["ownerReferences"] = [owner]
    return secret


def item_kineticjob(batch: dict[str, Any], index: int) -> KineticJob:
    """Item ``index``'s KineticJob: the template, named BATCH_ID-INDEX, labelled with its
    batch, owned by the KineticBatch (deleting the batch deletes its items)."""
    meta, spec = batch["metadata"], batch["spec"]
    job_id = item_job_id(spec["batchId"], index)
    owner = {"apiVersion": API_VERSION, "kind": BATCH_KIND, "name": meta["name"],
             "uid": meta["uid"], "controller": True}  # fmt: skip
    labels = {**SELECTOR, LABEL_JOB_ID: job_id, LABEL_BATCH: spec["batchId"],
              LABEL_BATCH_INDEX: str(index)}  # fmt: skip
    return cast(KineticJob, {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": job_id, "labels": labels, "ownerReferences": [owner]},
        "spec": dict(spec["template"]),
    })  # fmt: skip
