"""Data, exceptions, secrets and result digests on the kubernetes backend: the real control
plane, the operator as a process, pods run by the simulated node."""

from __future__ import annotations

import json
import subprocess
import sys

import datafns
import errorfns
import numpy as np
import pytest
from kubernetes import client

import kinetic
from kinetic.store import layout, open_store
from kinetic.wire.framing import frame, store_framed
from kinetic.wire.payload import ResultEnvelope

from .cluster_fixtures import pods_of

pytestmark = pytest.mark.k8s

SECRET = "k8s-tok-Very-S3cret-9021"


def test_arrays_as_argument_and_result(kube):
    x = np.ones(300_000)  # 2.4 MB, over pickle's 64 KiB frames
    assert kinetic.run()(datafns.total).run_async(x).result(timeout=120) == 300_000.0
    n = 9 * 1024 * 1024 + 1
    back = kinetic.run()(datafns.make_array).run_async(n).result(timeout=120)
    assert back.nbytes == n and np.array_equal(back, np.arange(n, dtype=np.uint8))


def test_exception_class_and_secret_masked_in_cr_termination_message_and_events(kube, namespace):
    fn = kinetic.run(secret_env={"API_TOKEN": SECRET})(errorfns.leak_secret)
    job = fn.run_async("API_TOKEN", "custom")
    with pytest.raises(errorfns.LeakyError) as info:
        job.result(timeout=120)
    assert info.value.token == "********" and SECRET not in str(info.value.__notes__)
    kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kinetic.dev", "v1alpha1", namespace, "kineticjobs", job.job_id
    )
    assert SECRET not in json.dumps(kj) and "********" in kj["status"]["message"]
    (pod,) = pods_of(kube, namespace, job.job_id)
    terminated = pod.status.container_statuses[0].state.terminated
    assert SECRET not in (terminated.message or "") and "********" in terminated.message
    events = client.CoreV1Api(kube).list_namespaced_event(namespace).items
    assert events and not any(SECRET in (e.message or "") for e in events)
    assert SECRET not in job.logs()


def test_forged_result_after_cleanup_is_refused(kube):
    job = kinetic.run()(datafns.total).run_async(np.ones(10))
    assert job.result(timeout=120, cleanup=False) == 10.0
    job.cleanup(k8s=True, gcs=False)  # the KineticJob, and the digest it recorded, go
    store = open_store(job.store)
    key = layout.result_key(job.job_id, 1)
    # Anyone with the store's credentials (the job's own) writes a well-framed result.
    store_framed(store, key, frame(ResultEnvelope(True, "forged")), if_absent=False)
    again = kinetic.attach(job.job_id)
    with pytest.raises(kinetic.IntegrityError, match="nothing outside the store vouches"):
        again.result(timeout=60)
    assert again.result(timeout=60, cleanup=False, verify=False) == "forged"  # the opt-out
    refused = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "result", job.job_id, "--no-cleanup"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "vouches" in refused.stderr
    opted = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "result", job.job_id, "--no-verify",
         "--no-cleanup", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(opted.stdout)["value"] == "forged"
