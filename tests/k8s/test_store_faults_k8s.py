"""A store that refuses writes at the moment a Kubernetes job finishes (issue 11, item 8):
the pod's runner cannot write the rest of its log, nor (in the later tests) the result.
The job still gets an honest terminal record through the pod's termination message and the
operator, nothing of its evidence is deleted, and nothing hangs.

The fault is real: inside the simulated pod's own mount namespace the job bind-mounts the
file:// store onto itself and remounts it read-only (tests/storefaultfns.py), so every
write of the pod's runner gets EROFS while the test and the operator see the store as it
was. That needs pods with their own mount namespaces (root and unshare). With a gs://
store, the GCS emulator sits behind a proxy for the pod that refuses its uploads (503)."""

from __future__ import annotations

import os
import time

import pytest
import storefaultfns
from helpers import unavailable
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.k8s.job_manifest import file_store_path
from kinetic.store import layout, open_store

from .cluster_fixtures import pods_of
from .simnode import mount_namespaces_available

pytestmark = pytest.mark.k8s


@pytest.fixture
def pod_mounts(kube):
    if not mount_namespaces_available():
        unavailable("simulated pods get no mount namespace of their own here (needs root)")
    return os.readlink("/proc/self/ns/mnt")  # which the jobs must not touch


def store_dir() -> str:
    path = file_store_path(os.environ["KINETIC_STORE"])
    assert path is not None
    os.makedirs(path, exist_ok=True)
    return path


def kineticjob(api, namespace: str, job_id: str) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        "kinetic.dev", "v1alpha1", namespace, "kineticjobs", job_id
    )


def pod_log_and_end(api, namespace: str, job_id: str):
    (pod,) = pods_of(api, namespace, job_id)
    text = client.CoreV1Api(api).read_namespaced_pod_log(pod.metadata.name, namespace)
    return text, pod.status.container_statuses[0].state.terminated


def test_store_read_only_once_the_result_is_stored(kube, namespace, pod_mounts):
    """The result is stored, then the store refuses the end of the log: the job is
    SUCCEEDED with its result vouched for by the KineticJob (it used to end "container
    exited with code 1" with no result in the KineticJob)."""
    started = time.monotonic()
    fn = kinetic.run(env={"KINETIC_STORE_PATIENCE": "3"})(
        storefaultfns.store_read_only_once_the_result_is_stored
    )
    job = fn.run_async(store_dir(), pod_mounts)
    assert job.result(timeout=180, cleanup=False) == 42
    assert time.monotonic() - started < 150  # (patience 3 s: no hang on the refusals)
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED, state
    kj = kineticjob(kube, namespace, job.job_id)
    assert kj["status"]["phase"] == "SUCCEEDED" and kj["status"].get("result"), kj["status"]
    pod_log, terminated = pod_log_and_end(kube, namespace, job.job_id)
    assert terminated.exit_code == 0, terminated
    # What the store took is in its log; what it refused is in the pod's log, said so.
    assert "printed before the store turned read-only" in job.logs()
    assert "printed after the store turned read-only" not in job.logs()
    assert "EROFS" in pod_log and "the store refused" in pod_log, pod_log
    assert all(f"printed after the store turned read-only {i}" in pod_log for i in range(5))


def test_store_read_only_before_the_result(kube, namespace, pod_mounts):
    """The function returns but its result cannot be stored: FAILED StoreUnavailable,
    naming the path and EROFS, through the termination message; the payload and the log
    written before stay."""
    started = time.monotonic()
    fn = kinetic.run(env={"KINETIC_STORE_PATIENCE": "3"})(
        storefaultfns.store_read_only_before_the_result
    )
    root = store_dir()
    job = fn.run_async(root, pod_mounts)
    with pytest.raises(kinetic.JobFailedError):
        job.result(timeout=180)
    assert time.monotonic() - started < 150
    state = job.state()
    assert state.status == JobStatus.FAILED and state.reason == "StoreUnavailable", state
    assert "EROFS" in state.message and root in state.message, state.message
    kj = kineticjob(kube, namespace, job.job_id)
    assert kj["status"]["reason"] == "StoreUnavailable", kj["status"]
    pod_log, terminated = pod_log_and_end(kube, namespace, job.job_id)
    assert "StoreUnavailable" in (terminated.message or ""), terminated
    assert "printed after the store turned read-only" in pod_log
    # Evidence kept: the payload, the handle and the log up to the fault.
    store = open_store(job.store)
    assert store.exists(layout.payload_key(job.job_id))
    assert store.exists(layout.handle_key(job.job_id))
    assert "printed before the store turned read-only" in job.logs()
    assert not store.exists(layout.result_key(job.job_id, 1))


def test_bucket_refusing_every_write_of_the_pod(kube, namespace, gcs_store_uri, gcs_fault_proxy,
                                                monkeypatch):  # fmt: skip
    """A gs:// store (the GCS emulator, behind a proxy for the pod) that answers 503 to
    every upload from the pod — its log and, as the job finishes, its result: FAILED
    StoreUnavailable through the termination message, within the store's retry deadline
    and the runner's patience; the payload stays, and the refused log is in the pod's."""
    monkeypatch.setenv("KINETIC_STORE", gcs_store_uri)
    gcs_fault_proxy.fail(10_000, status=503, method="POST", path="/upload/")
    pod_env = {"STORAGE_EMULATOR_HOST": gcs_fault_proxy.url,  # the pod's way to the bucket
               "KINETIC_GCS_RETRY_DEADLINE": "3", "KINETIC_STORE_PATIENCE": "3"}  # fmt: skip
    started = time.monotonic()
    job = kinetic.run(env=pod_env)(storefaultfns.prints_then_returns).run_async(42)
    with pytest.raises(kinetic.JobFailedError):
        job.result(timeout=180)
    assert time.monotonic() - started < 150
    state = job.state()
    assert state.status == JobStatus.FAILED and state.reason == "StoreUnavailable", state
    assert "store_result" in state.message and "503" in state.message, state.message
    assert kineticjob(kube, namespace, job.job_id)["status"]["reason"] == "StoreUnavailable"
    assert any(kind == "status" for _, _, kind in gcs_fault_proxy.log)  # refused, for real
    pod_log, terminated = pod_log_and_end(kube, namespace, job.job_id)
    assert "StoreUnavailable" in (terminated.message or ""), terminated
    assert "printed before the result" in pod_log and "the store refused" in pod_log, pod_log
    store = open_store(job.store)
    assert store.exists(layout.payload_key(job.job_id))
    assert store.exists(layout.handle_key(job.job_id))
    assert not store.exists(layout.result_key(job.job_id, 1))
