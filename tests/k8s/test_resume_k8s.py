"""Resume on the cluster: a pod killed at once (evicted, its node gone) or deleted loses
nothing synced; the operator's next attempt restores it and the job ends as an
uninterrupted run would."""

from __future__ import annotations

import json

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic.store import layout, open_store

from .cluster_fixtures import pods_of

pytestmark = pytest.mark.k8s

STEPS = 25


def _stored_step(store, job_id):
    key = f"{layout.output_prefix(job_id, 1)}/ckpt.json"
    return json.loads(store.read_bytes(key))["step"] if store.exists(key) else 0


@pytest.mark.parametrize("how", ["evicted", "deleted"])
def test_a_killed_pod_resumes_from_its_last_sync(kube, namespace, sim_node, tmp_path, how):
    progress = tmp_path / "progress"
    job = kinetic.run(retries=1, retry_backoff=0, output_sync=1)(jobfns.checkpointing).run_async(
        STEPS, 0.3, str(progress)
    )
    store = open_store(job.store)
    wait_for(lambda: _stored_step(store, job.job_id) >= 3, timeout=90, what="a checkpoint")
    (pod,) = pods_of(kube, namespace, job.job_id)
    if how == "evicted":  # killed at once, as when a spot VM is reclaimed
        sim_node.worker(namespace, pod.metadata.name).evict("The node was preempted.")
    else:  # as when its node is removed and the pod garbage-collected
        client.CoreV1Api(kube).delete_namespaced_pod(
            pod.metadata.name, namespace, grace_period_seconds=0
        )
    start, total = job.result(timeout=120, cleanup=False)
    assert total == sum(range(STEPS))
    synced = _stored_step(store, job.job_id)  # a complete version: it parses
    assert start == synced >= 3
    state = job.state()
    assert state.attempts == 2
    assert state.previous_attempts[0]["reason"] in ("Evicted", "Lost")
    assert "resuming: 1 output file(s) restored" in job.logs()


def test_a_preempted_pod_syncs_on_sigterm_and_resumes(kube, namespace, tmp_path):
    """Preemption gives notice: SIGTERM, then the grace period. With output_sync=None the
    checkpoint reaches the store only through the last sync the notice starts."""
    progress = tmp_path / "progress"
    job = kinetic.run(retries=1, retry_backoff=0, output_sync=None)(jobfns.checkpointing).run_async(
        15, 1.0, str(progress)
    )
    wait_for(lambda: progress.exists() and "wrote 2" in progress.read_text(), timeout=90,
             what="two checkpoints")  # fmt: skip
    lines = progress.read_text().splitlines
    wait_for(lambda: lines()[-1].startswith("wrote"), timeout=30, interval=0.005)
    (pod,) = pods_of(kube, namespace, job.job_id)
    core = client.CoreV1Api(kube)
    condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                 "message": "preempted by a higher-priority pod"}  # fmt: skip
    core.patch_namespaced_pod_status(
        pod.metadata.name, namespace, {"status": {"conditions": [condition]}}
    )
    core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=20)
    start, total = job.result(timeout=120, cleanup=False)
    assert total == sum(range(15))
    store = open_store(job.store)
    assert start == _stored_step(store, job.job_id) == 3
    state = job.state()
    assert state.attempts == 2 and state.previous_attempts[0]["reason"] == "Preempted"
