"""A spot pod preempted on the cluster: retried as attempt 2, which resumes from the last
synced checkpoint, and the job ends as an uninterrupted run would.

The 1.20 control plane writes no ``DisruptionTarget`` condition (1.26+ does), so the test
does what a 1.26+ taint manager does when the cloud reclaims a spot node: the pod gets the
condition exactly as the taint manager writes it (``DeletionByTaintManager``, see
kubernetes' pkg/controller/tainteviction), and the node a ``NoExecute`` taint the pod does
not tolerate, on which the real (1.20) taint manager deletes the pod with its grace period:
the runner gets SIGTERM, as on a real reclaim."""

from __future__ import annotations

import json

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.store import layout, open_store

from .cluster_fixtures import pods_of
from .simnode import SimNode

pytestmark = pytest.mark.k8s

STEPS = 25
SPOT_NODE = "sim-spot-node"
SPOT_LABELS = {"cloud.google.com/gke-spot": "true"}  # as GKE labels its spot nodes
SPOT_TAINT = {"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"}
RECLAIMED = {"key": "kinetic.dev/test-reclaimed", "value": "true", "effect": "NoExecute"}
# What a 1.26+ taint manager writes on the pod before it deletes it.
DISRUPTION = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByTaintManager",
    "message": "Taint manager: deleting due to NoExecute taint",
}


@pytest.fixture
def spot_node(control_plane):
    node = SimNode(control_plane.kubeconfig, name=SPOT_NODE, labels=SPOT_LABELS,
                   taints=[SPOT_TAINT]).start()  # fmt: skip
    yield node
    node.stop()


def _stored_step(store, job_id):
    key = f"{layout.output_prefix(job_id, 1)}/ckpt.json"
    return json.loads(store.read_bytes(key))["step"] if store.exists(key) else 0


def test_a_preempted_spot_pod_is_retried_and_resumes(kube, namespace, spot_node, tmp_path):
    core = client.CoreV1Api(kube)
    progress = tmp_path / "progress"
    job = kinetic.run(accelerator="cpu:spot", retries=1, retry_backoff=0, output_sync=1)(
        jobfns.checkpointing
    ).run_async(STEPS, 0.3, str(progress))
    store = open_store(job.store)
    wait_for(lambda: _stored_step(store, job.job_id) >= 3, timeout=90, what="a checkpoint")
    (pod,) = pods_of(kube, namespace, job.job_id)
    assert pod.spec.node_name == SPOT_NODE
    disruption = {**DISRUPTION, "lastTransitionTime": pod.status.start_time.isoformat()}
    core.patch_namespaced_pod_status(
        pod.metadata.name, namespace, {"status": {"conditions": [disruption]}}
    )
    core.patch_node(SPOT_NODE, {"spec": {"taints": [SPOT_TAINT, RECLAIMED]}})
    try:
        wait_for(lambda: job.state().previous_attempts, timeout=120, what="attempt 1 recorded")
    finally:  # the reclaimed capacity comes back (a new spot VM): attempt 2 runs there
        core.patch_node(SPOT_NODE, {"spec": {"taints": [SPOT_TAINT]}})
    (preempted,) = job.state().previous_attempts
    assert preempted["reason"] == "Preempted", preempted
    assert preempted["message"] == DISRUPTION["message"]
    start, total = job.result(timeout=120, cleanup=False)
    assert total == sum(range(STEPS))
    synced = _stored_step(store, job.job_id)  # attempt 1's last sync (at its SIGTERM)
    assert start == synced >= 3
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED and state.attempts == 2
    logs = job.logs(attempt=2)
    assert "resuming: 1 output file(s) restored" in logs and f"starts at step {start}" in logs
