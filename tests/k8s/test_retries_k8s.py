"""Retries on the cluster: the operator runs each attempt as its own Job, retries an
infrastructure failure by default and the job's own failure only when asked, and records
every attempt in the KineticJob."""

from __future__ import annotations

import json

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus

from .cluster_fixtures import pods_of

pytestmark = pytest.mark.k8s


def jobs_of(api, namespace, job_id) -> list[str]:
    found = client.BatchV1Api(api).list_namespaced_job(
        namespace, label_selector=f"kinetic.dev/job-id={job_id}"
    )
    return sorted(j.metadata.name for j in found.items)


def test_an_evicted_attempt_is_retried(kube, namespace, sim_node, control_plane, tmp_path):
    marker = tmp_path / "attempt-1-started"
    job = kinetic.run(retries=1, retry_backoff=1)(jobfns.stall_on_first_attempt).run_async(
        str(marker)
    )
    wait_for(marker.exists, timeout=60, what="attempt 1 to run")
    # An eviction kills at once: what the runner has not flushed yet (at most a second's
    # output) would go with it, so evict only once attempt 1's line is in the store.
    wait_for(lambda: "this is attempt 1" in job.logs(attempt=1), timeout=60, what="its log")
    (pod,) = pods_of(kube, namespace, job.job_id)
    assert pod.metadata.labels["kinetic.dev/attempt"] == "1"
    sim_node.worker(namespace, pod.metadata.name).evict("The node was low on resource: memory.")
    assert job.result(timeout=90, cleanup=False) == "done on attempt 2"
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED and state.attempts == 2
    (evicted,) = state.previous_attempts
    assert evicted["reason"] == "Evicted" and "low on resource" in evicted["message"]
    assert evicted["started"] <= evicted["finished"] and evicted["node"]
    # Each attempt's Job and log are kept apart; the first Job stays as evidence.
    assert jobs_of(kube, namespace, job.job_id) == [job.job_id, f"{job.job_id}-a2"]
    assert "this is attempt 1" in job.logs(attempt=1)
    assert "this is attempt 2" in job.logs() and "this is attempt 1" not in job.logs()
    # kubectl may have cached discovery from before the CRD was served: let it refresh.
    table = wait_for(
        lambda: (r := control_plane.kubectl("get", "kj", job.job_id, "-n", namespace,
                                            "-o", "wide", check=False)).returncode == 0 and r,
        timeout=30, what="kubectl get kj",
    ).stdout  # fmt: skip
    header, row = table.splitlines()[:2]
    column = header.index("ATTEMPTS")  # columns are aligned; empty ones are blank
    assert row[column:].split()[0] == "2"
    kj = json.loads(control_plane.kubectl("get", "kj", job.job_id, "-n", namespace,
                                          "-o", "json").stdout)  # fmt: skip
    assert kj["status"]["previousAttempts"][0]["reason"] == "Evicted"
    events = control_plane.kubectl("describe", "kj", job.job_id, "-n", namespace).stdout
    assert "Retrying" in events


def test_the_jobs_own_failure_is_retried_only_when_asked(kube, namespace):
    once = kinetic.run(retries=2, retry_backoff=0)(jobfns.fail_until_attempt).run_async(2)
    with pytest.raises(jobfns.CustomError, match="attempt 1 is not enough"):
        once.result(timeout=60)
    state = once.state()
    assert (state.attempts, state.previous_attempts) == (1, [])
    assert jobs_of(kube, namespace, once.job_id) == [once.job_id]

    asked = kinetic.run(retries=2, retry_on_error=True, retry_backoff=0.5)(
        jobfns.fail_until_attempt
    ).run_async(3)
    assert asked.result(timeout=120, cleanup=False) == 3
    state = asked.state()
    assert state.attempts == 3
    assert [(r["attempt"], r["reason"]) for r in state.previous_attempts] == [
        (1, "UserError"),
        (2, "UserError"),
    ]
    assert len(jobs_of(kube, namespace, asked.job_id)) == 3
    # kinetic.attempt() told the job which attempt it was, and each kept its own log.
    assert all(f"this is attempt {n}" in asked.logs(attempt=n) for n in (1, 2, 3))


def test_a_retry_waiting_for_its_backoff_can_be_cancelled(kube, namespace):
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=300)(
        jobfns.fail_until_attempt
    ).run_async(2)
    wait_for(lambda: job.state().reason == "Retrying", timeout=60, what="the retry's wait")
    state = job.state()
    assert state.status == JobStatus.PENDING and state.attempts == 2
    assert "starts at" in state.message
    assert job.cancel().status == JobStatus.CANCELLED
    assert jobs_of(kube, namespace, job.job_id) == [job.job_id]  # nothing ran early


def test_a_pod_deleted_while_running_is_a_lost_attempt(kube, namespace, tmp_path):
    """As when its node is removed and the pod garbage-collected: 1.20's Job controller
    would quietly start another pod; the operator records a Lost attempt instead and
    retries it under the budget."""
    marker = tmp_path / "attempt-1-started"
    job = kinetic.run(retries=1, retry_backoff=0)(jobfns.stall_on_first_attempt).run_async(
        str(marker)
    )
    wait_for(marker.exists, timeout=60, what="attempt 1 to run")
    (pod,) = pods_of(kube, namespace, job.job_id)
    client.CoreV1Api(kube).delete_namespaced_pod(
        pod.metadata.name, namespace, grace_period_seconds=0
    )
    assert job.result(timeout=90, cleanup=False) == "done on attempt 2"
    (lost,) = job.state().previous_attempts
    assert lost["reason"] == "Lost" and pod.metadata.name in lost["message"]
    # The first attempt's Job was stopped so it could not replace its pod quietly.
    wait_for(lambda: jobs_of(kube, namespace, job.job_id) == [f"{job.job_id}-a2"],
             timeout=30, what="attempt 1's Job deleted")  # fmt: skip
