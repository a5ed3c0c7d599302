"""The pure parts of the kubernetes backend: the objects built and the operator's decisions."""

from __future__ import annotations

import pytest
from chart_support import kineticjob
from kinetic_operator.decisions import Action, decide, status_patch, transition_event

import kinetic
from kinetic.k8s.job_manifest import OperatorConfig, build_job, store_is_shared

SHA = "a" * 64


def test_kineticjob_holds_what_the_operator_needs_and_no_secret():
    kj = kineticjob(accelerator="l4x2", timeout=90.4, env={"A": "1"}, capture_env=["TOKEN*"])
    assert kj["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kinetic",
        "kinetic.dev/job-id": "train-abc12345",
    }
    assert kj["spec"] == {
        "function": "m.train",
        "store": "gs://bucket/kinetic",
        "payloadSha256": SHA,
        "accelerator": "nvidia-l4x2",
        "gracePeriodSeconds": 30,
        "timeoutSeconds": 90,
        "env": [{"name": "A", "value": "1"}],
    }  # captured values travel in the payload, never in the CR


def test_gpu_job_is_scheduled_on_gke_gpu_nodes():
    job = build_job(kineticjob(accelerator="l4x2", timeout=600), OperatorConfig())
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert job["metadata"]["name"] == "train-abc12345"
    assert job["metadata"]["ownerReferences"][0] == {
        "apiVersion": "kinetic.dev/v1alpha1",
        "kind": "KineticJob",
        "name": "train-abc12345",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "2"}}
    assert container["command"][-3:] == ["--store", "gs://bucket/kinetic", "train-abc12345"]
    assert {"name": "KINETIC_JOB_ID", "value": "train-abc12345"} in container["env"]
    assert "volumes" not in pod


def test_tpu_job_and_operator_configuration():
    config = OperatorConfig(default_image="img:1", service_account="jobs")
    pod = build_job(kineticjob(accelerator="v5litepod-8"), config)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x4",
    }
    assert pod["containers"][0]["resources"]["limits"] == {"google.com/tpu": "8"}
    assert pod["containers"][0]["image"] == "img:1"
    assert pod["serviceAccountName"] == "jobs"
    label_map = {"gpu_label": "nvidia.com/gpu.product", "gpu_values": {"nvidia-l4": "NVIDIA-L4"}}
    labels = OperatorConfig(accelerator_labels=label_map)
    pod = build_job(kineticjob(accelerator="l4"), labels)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}


def test_file_store_is_mounted_from_the_shared_host_path():
    config = OperatorConfig(file_store_host_path="/srv/kinetic")
    job = build_job(kineticjob(store="file:///srv/kinetic/store"), config)
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "kinetic-store", "hostPath": {"path": "/srv/kinetic"}}]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/srv/kinetic"


@pytest.mark.parametrize(
    ("store", "host_path", "shared"),
    [
        ("gs://b/p", None, True),
        ("file:///srv/kinetic/store", "/srv/kinetic", True),
        ("file:///srv/kinetic", "/srv/kinetic/", True),
        ("file:///srv/kinetic-other", "/srv/kinetic", False),
        ("file:///home/me/.kinetic/store", None, False),
    ],
)
def test_store_is_shared(store, host_path, shared):
    assert store_is_shared(store, host_path) is shared


def test_client_refuses_an_unshared_file_store_before_submitting(monkeypatch, tmp_path):
    monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
    with pytest.raises(kinetic.SpecError, match="file_store_host_path"):
        kinetic.run()(len).run_async([1])
    assert not (tmp_path / "store").exists()


def test_decisions_create_once_cancel_and_refuse():
    kj = kineticjob()
    assert decide(kj, None, [], store_shared=True) == Action(create_job=True)
    assert decide(kj, None, [], store_shared=False).refuse[0] == "StoreNotShared"
    seen = {**kj, "status": {"phase": "PENDING", "jobName": "train-abc12345"}}
    assert decide(seen, None, [], store_shared=True) == Action()  # never a second Job
    job = {"metadata": {"name": "train-abc12345"}, "status": {"active": 1}}
    cancelled = {**seen, "spec": {**kj["spec"], "cancel": True}}
    assert decide(cancelled, job, [], store_shared=True) == Action(delete_job=True)
    # Cancelled right after its Job was created, before the watch showed it: the Job is
    # deleted all the same (once CANCELLED, nothing would look at it again).
    fresh = {**kj, "spec": {**kj["spec"], "cancel": True}}
    assert decide(fresh, None, [], store_shared=True) == Action()
    assert decide(fresh, None, [], store_shared=True, created_unseen=True) == Action(
        delete_job=True
    )
    done = {**cancelled, "status": {"phase": "SUCCEEDED"}}
    assert decide(done, job, [], store_shared=True) == Action()


def test_status_patch_only_changes_and_events():
    kj = kineticjob()
    first = status_patch(kj, None, [], Action(create_job=True))
    assert first["phase"] == "PENDING" and first["observedGeneration"] == 1
    again = {**kj, "status": {k: v for k, v in first.items() if v is not None}}
    assert status_patch(again, None, [], Action()) is None  # nothing changed: no write
    kind, reason, text = transition_event({}, first)
    assert (kind, reason) == ("Normal", "Pending") and text.startswith("PENDING")
    failed = {"phase": "FAILED", "reason": "OOMKilled", "message": "used 2Gi"}
    assert transition_event(first, failed) == ("Warning", "Failed", "FAILED (OOMKilled): used 2Gi")
    assert transition_event(first, {"attempts": 1}) is None
