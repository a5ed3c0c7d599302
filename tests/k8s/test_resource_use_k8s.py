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
from kinetic.k8s.names import LABEL_JOB_ID

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
