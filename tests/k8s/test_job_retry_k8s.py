"""Retrying a finished job on the cluster: a new KineticJob from the stored payload and
spec, linked both ways (kinetic.client.job_retry)."""

from __future__ import annotations

import jobfns
import pytest
from helpers import wait_log
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.k8s.names import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.k8s

NEEDS_GO = ["sh", "-c", 'echo "go=$GO"; test -n "$GO"']


def test_a_failed_job_is_retried_with_overrides(kube, namespace, operator):
    first = kinetic.submit(NEEDS_GO, name="needs-go")
    assert first.wait(90).status == JobStatus.FAILED, operator.tail()

    second = first.retry(env={"GO": "yes"}, timeout=300, accelerator="l4")
    assert second.backend == "kubernetes" and second.extra["namespace"] == namespace
    assert second.retry_of == first.job_id
    state = second.wait(90)
    assert state.status == JobStatus.SUCCEEDED, (state, operator.tail())
    assert state.node == "sim-gpu-node"  # the overridden accelerator placed it
    assert second.logs() == "go=yes\n"
    kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, second.job_id
    )
    assert kj["spec"]["payloadSha256"] == first.payload_sha256
    assert kinetic.attach(first.job_id).retried_as() == [second.job_id]
    assert first.status() == JobStatus.FAILED  # the original and its evidence stay


def test_a_cancelled_job_is_retried(kube, namespace, operator, shared_root, tmp_path):
    go = shared_root / f"{tmp_path.name}-go"
    first = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(go), 300)
    wait_log(first, "started", timeout=90)
    assert first.cancel(timeout=120).status == JobStatus.CANCELLED

    # From a listed handle (a KineticJob's partial record): the stored one is used.
    (listed,) = [h for h in kinetic.list_jobs() if h.job_id == first.job_id]
    second = listed.retry()
    go.touch()
    assert second.result(timeout=90, cleanup=False) == "ok", operator.tail()
    assert second.retry_of == first.job_id and first.retried_as() == [second.job_id]
    with pytest.raises(kinetic.RetryRefusedError, match="succeeded"):
        second.retry()
