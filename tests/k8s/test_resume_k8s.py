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


def test_a_pod_stopped_with_notice_syncs_on_sigterm_and_its_replacement_resumes(
    kube, namespace, tmp_path
):
    """A pod deleted with a grace period (as a drain or a preemption notice does) gets
    SIGTERM: with output_sync=None the checkpoint reaches the store only through the last
    sync the notice starts. 1.20's Job controller replaces the pod under the same attempt,
    and that pod resumes from it too."""
    progress = tmp_path / "progress"
    job = kinetic.run(retries=1, retry_backoff=0, output_sync=None)(jobfns.checkpointing)
    job = job.run_async(15, 0.2, str(progress), stall_after=3)
    wait_for(lambda: progress.exists() and "wrote 3" in progress.read_text(), timeout=90,
             what="three checkpoints")  # fmt: skip
    (pod,) = pods_of(kube, namespace, job.job_id)
    client.CoreV1Api(kube).delete_namespaced_pod(
        pod.metadata.name, namespace, grace_period_seconds=20
    )
    start, total = job.result(timeout=120, cleanup=False)
    assert total == sum(range(15))
    assert start == 3  # only the last sync, at SIGTERM, could have stored step 3
    logs = job.logs(attempt=job.state().attempts)
    assert "resuming: 1 output file(s) restored" in logs and "starts at step 3" in logs
