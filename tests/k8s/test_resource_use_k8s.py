"""A running job's resource use on Kubernetes (issue 18 item 4): absent, without error,
while the cluster serves no metrics API; read from metrics.k8s.io once it does. The test
control plane has no metrics-server: the API is stood in for by a CustomResourceDefinition
of the same group, version and resource (PodMetrics, `pods`), which the API server serves
at the same path, so the client's request is the real one."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time

import jobfns
import pytest
from helpers import wait_log
from kubernetes import client

import kinetic
from kinetic.client.resource_use import resource_use
from kinetic.k8s.names import GROUP, LABEL_JOB_ID, PLURAL, VERSION

pytestmark = pytest.mark.k8s

ANY_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
METRICS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": "pods.metrics.k8s.io",
        "annotations": {"api-approved.kubernetes.io": "unapproved, test stand-in"},
    },
    "spec": {
        "group": "metrics.k8s.io",
        "scope": "Namespaced",
        "names": {"plural": "pods", "singular": "podmetrics", "kind": "PodMetrics"},
        "versions": [
            {"name": "v1beta1", "served": True, "storage": True,
             "schema": {"openAPIV3Schema": ANY_OBJECT}},
        ],
    },
}  # fmt: skip


def _status(job_id: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "status", job_id],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_running_job_use_from_the_metrics_api(kube, namespace):
    job = kinetic.run()(jobfns.cooperative).run_async(300)
    ext = client.ApiextensionsV1Api(kube)
    try:
        wait_log(job, "working", timeout=120)
        # Not served: nothing shown, no error.
        assert resource_use(job, job.state()) is None
        out = _status(job.job_id)
        assert out.returncode == 0, out.stderr
        assert re.search(r"^resources:\s+-$", out.stdout, re.M), out.stdout
        # Served: the job's PodMetrics (labelled like its pod), summed over containers.
        ext.create_custom_resource_definition(METRICS_CRD)
        custom = client.CustomObjectsApi(kube)
        deadline = time.monotonic() + 60
        body = {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": f"{job.job_id}-pod", "labels": {LABEL_JOB_ID: job.job_id}},
            "containers": [
                {"name": "job", "usage": {"cpu": "250m", "memory": "64Mi"}},
                {"name": "side", "usage": {"cpu": "5m", "memory": "1Mi"}},
            ],
        }
        while True:
            try:
                custom.create_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace,
                                                       "pods", body)  # fmt: skip
                break
            except client.ApiException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # the CRD is being established
        usage = resource_use(job, job.state())
        assert usage == {"memory_bytes": 65 * 2**20, "cpu_cores": 0.255,
                         "source": "metrics.k8s.io"}, usage  # fmt: skip
        out = _status(job.job_id)
        assert "memory now 65 MiB, CPU now 0.26 cores" in out.stdout, out.stdout
    finally:
        job.cancel(wait=False)
        with contextlib.suppress(client.ApiException):
            ext.delete_custom_resource_definition("pods.metrics.k8s.io")


def test_finished_job_records_its_peak_memory_and_cpu_time(kube, namespace):
    """The runner in the pod records what the job used, the termination message carries it
    to the operator, and the KineticJob's status keeps it: `kinetic jobs status` shows it.
    The simulated node runs pods as plain processes sharing this machine's cgroup, so the
    runner keeps the worker's own peak (``peak_memory_of: worker``), as it must on any
    node where the cgroup is not the container's alone."""
    job = kinetic.run()(jobfns.hog_memory).run_async(120)
    assert job.result(cleanup=False, timeout=300) == 120 * 2**20
    usage = job.state().extra["resources"]
    assert usage["peak_memory_bytes"] >= 120 * 2**20, usage
    assert usage["peak_memory_bytes"] < 2 * 2**30, usage  # its own, not the machine's
    assert 0 < usage["cpu_seconds"] < 60 and usage["peak_memory_of"] == "worker", usage
    kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, job.job_id
    )
    assert kj["status"]["resources"] == usage
    assert resource_use(job, job.state()) == usage  # recorded: no metrics API asked
    out = _status(job.job_id)
    line = next(x for x in out.stdout.splitlines() if x.startswith("resources:"))
    assert "peak memory" in line and "MiB" in line and "CPU time" in line, out.stdout


def test_a_failed_job_records_its_use_too(kube, namespace):
    job = kinetic.run()(jobfns.fail_with).run_async("broken")
    state = job.wait(300)
    assert state.status == kinetic.JobStatus.FAILED and state.reason == "UserError"
    assert state.extra["resources"]["peak_memory_bytes"] > 0, state.extra
