"""The queue on the cluster: the KineticJobs not yet running, oldest first, and why, in
the scheduler's and the kubelet's own words (kinetic.client.job_queue)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic.client.job_queue import queue
from kinetic.model.status import parse_time

from .cluster_fixtures import pods_of

pytestmark = pytest.mark.k8s


def test_the_queue_says_why(kube, namespace, operator):
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = kinetic.run(start_at=later)(jobfns.add).run_async(1, 2)
    wait_for(lambda: scheduled.state().reason == "Scheduled", timeout=90, what="Scheduled")
    nowhere = kinetic.run(accelerator="h100")(jobfns.add).run_async(1, 1)
    wait_for(lambda: nowhere.state().reason == "Unschedulable", timeout=90, what="Unschedulable")
    retrying = kinetic.submit(["false"], retries=1, retry_on_error=True, retry_backoff=600)
    wait_for(lambda: retrying.state().reason == "Retrying", timeout=90, what="Retrying")
    # A pod that cannot pull its image, as the kubelet reports it (the simulated node runs
    # no images): its status written through the API server's status subresource.
    pulling = kinetic.run(accelerator="a100")(jobfns.add).run_async(2, 2)
    wait_for(lambda: pods_of(kube, namespace, pulling.job_id), timeout=90, what="its pod")
    (pod,) = pods_of(kube, namespace, pulling.job_id)
    waiting = {"reason": "ImagePullBackOff",
               "message": 'Back-off pulling image "registry.example/none:1"'}  # fmt: skip
    client.CoreV1Api(kube).patch_namespaced_pod_status(
        pod.metadata.name, namespace,
        {"status": {"containerStatuses": [{
            "name": pod.spec.containers[0].name, "image": "registry.example/none:1",
            "imageID": "", "ready": False, "restartCount": 0,
            "state": {"waiting": waiting}}]}},
    )  # fmt: skip
    wait_for(lambda: pulling.state().reason == "ImagePullBackOff", timeout=90, what="the pull")

    entries = {e.job_id: e for e in queue()}
    # Oldest wait first. The objects' times are stamped to the second and these four jobs
    # are made within seconds of each other, so check the order by the waits' starts
    # themselves (a retry's is its failed attempt's end, below) rather than by submission.
    listed = queue()
    assert {e.job_id for e in listed} == {scheduled.job_id, nowhere.job_id,
                                          retrying.job_id, pulling.job_id}  # fmt: skip
    starts = [e.since for e in listed]
    assert None not in starts and starts == sorted(starts), [(e.job_id, e.since) for e in listed]
    since = {e.job_id: e.since for e in entries.values()}
    # A retry waits from its failed attempt's end, not from its submission (the objects'
    # times are stamped to the second, so compare with the recorded end itself).
    failed_at = retrying.state().previous_attempts[-1]["finished"]
    assert since[retrying.job_id] == parse_time(failed_at), (since, failed_at)
    assert entries[scheduled.job_id].why.startswith("Scheduled until ")
    assert abs((entries[scheduled.job_id].until - later).total_seconds()) < 1
    assert entries[nowhere.job_id].why.startswith("Unschedulable: ")
    assert "node" in entries[nowhere.job_id].why  # the scheduler's own words
    assert entries[pulling.job_id].why == (
        'ImagePullBackOff: Back-off pulling image "registry.example/none:1"'
    )
    assert entries[retrying.job_id].why.startswith("Retrying at ")
    assert entries[retrying.job_id].attempt == 2
    assert all(e.backend == "kubernetes" and e.waited >= 0 for e in entries.values())

    out = subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "queue", "-o", "json"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert {r["job_id"] for r in json.loads(out.stdout)} == set(entries), out.stderr
    for job in (scheduled, nowhere, retrying, pulling):
        job.cancel(wait=False)
