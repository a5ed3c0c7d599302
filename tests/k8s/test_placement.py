"""Runtimes, volumes and networks end to end: the public API and the CLI, the chart's
objects and RBAC, the operator as a process, pods run by the simulated node."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import placementfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus

from .cluster_fixtures import bind_user
from .simnode import mount_namespaces_available

pytestmark = pytest.mark.k8s

RELEASE_NAMESPACE = "kinetic-placement"
RUNTIMES = {
    "py312": {"image": "registry.example/kinetic:0.1.0-py3.12", "description": "Python 3.12"},
    "plain": "registry.example/kinetic:plain",
}
needs_mounts = pytest.mark.skipif(
    not mount_namespaces_available(), reason="volumes need root and unshare on this machine"
)


@pytest.fixture(scope="module")
def release_namespace() -> str:
    return RELEASE_NAMESPACE


@pytest.fixture(scope="module")
def release_values() -> dict:
    """The chart's objects with a runtime table (and so the chart's ConfigMap)."""
    return {"runtimes": RUNTIMES}


@pytest.fixture
def reads_runtimes(kube, namespace, release):
    """Alice bound in the release namespace too, where the runtime table lives."""
    name = bind_user(kube, RELEASE_NAMESPACE, release, namespace)
    yield
    client.RbacAuthorizationV1Api(kube).delete_namespaced_role_binding(name, RELEASE_NAMESPACE)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args], capture_output=True, text=True
    )


def claim(api, namespace: str, name: str, directory) -> None:
    """A PersistentVolumeClaim bound (by the real PV controller) to a hostPath volume."""
    pv = f"{namespace}-{name}"
    client.CoreV1Api(api).create_persistent_volume({
        "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "manual", "hostPath": {"path": str(directory)},
                 "claimRef": {"namespace": namespace, "name": name}},
    })  # fmt: skip
    client.CoreV1Api(api).create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                 "resources": {"requests": {"storage": "1Gi"}}},
    })  # fmt: skip
    core = client.CoreV1Api(api)
    wait_for(
        lambda: (
            core.read_namespaced_persistent_volume_claim(name, namespace).status.phase == "Bound"
        ),
        what=f"claim {name} bound",
    )


@pytest.fixture
def claims(kube, namespace, tmp_path):
    data, refs = tmp_path / "data-volume", tmp_path / "refs-volume"
    data.mkdir()
    refs.mkdir()
    (data / "input.txt").write_text("placed before the job\n")
    (refs / "reference.txt").write_text("read me\n")
    claim(kube, namespace, "data", data)
    claim(kube, namespace, "refs", refs)
    yield data, refs
    for name in ("data", "refs"):
        client.CoreV1Api(kube).delete_persistent_volume(f"{namespace}-{name}")


def job_of(api, namespace: str, job_id: str):
    return client.BatchV1Api(api).read_namespaced_job(job_id, namespace)


@needs_mounts
def test_claims_and_memory_scratch_are_mounted(kube, namespace, claims):
    data, _ = claims
    volumes = ["data:/mnt/kt-data", "refs:/mnt/kt-refs:ro",
               {"type": "memory", "name": "scratch", "size": "16Mi"}]  # fmt: skip
    fn = kinetic.run(volumes=volumes)(placementfns.use_volumes)
    job = fn.run_async("/mnt/kt-data", "/mnt/kt-refs", "/mnt/scratch")
    assert job.result(timeout=90, cleanup=False) == {
        "input": "placed before the job\n",
        "refs": "read me\n",
        "refs_writable": False,  # mounted read-only
        "scratch_fs": "tmpfs",  # memory-backed
        "scratch_full": True,  # and bounded by its size
    }
    assert (data / "output.txt").read_text() == "PLACED BEFORE THE JOB\n"  # written back
    pod = job_of(kube, namespace, job.job_id).spec.template.spec
    assert {v.name: v.persistent_volume_claim.claim_name for v in pod.volumes
            if v.persistent_volume_claim} == {"data": "data", "refs": "refs"}  # fmt: skip
    (scratch,) = [v.empty_dir for v in pod.volumes if v.empty_dir]
    assert (scratch.medium, scratch.size_limit) == ("Memory", "16Mi")


def test_a_missing_claim_is_refused_before_anything_is_created(kube, namespace):
    fn = kinetic.run(volumes=["nowhere:/mnt/kt-x"])(placementfns.mount_type)
    with pytest.raises(kinetic.SpecError, match="existing PersistentVolumeClaim") as info:
        fn.run_async("/")
    assert info.value.option == "volumes" and f"namespace {namespace}" in str(info.value)
    assert kinetic.list_jobs() == []


def test_the_operator_refuses_an_unknown_runtime(kube, namespace):
    # Alice may not read the table (her role is bound in her namespace only): the client
    # cannot check, the operator does, when it would make the Job.
    listed = cli("runtimes", "list")
    assert listed.returncode == 1 and "bind the chart's kinetic-user" in listed.stderr
    job = kinetic.run(runtime="py311")(placementfns.mount_type).run_async("/")
    state = wait_for(lambda: (s := job.state()).status.is_terminal and s, what="refusal")
    assert (state.status, state.reason) == (JobStatus.FAILED, "UnknownRuntime")
    assert "'py311'" in state.message and "known: plain, py312" in state.message
    assert client.BatchV1Api(kube).list_namespaced_job(namespace).items == []


def test_runtime_picks_the_image_from_the_table(kube, namespace, reads_runtimes):
    listed = json.loads(cli("runtimes", "list", "-o", "json").stdout)
    assert listed == [
        {"name": "plain", "image": "registry.example/kinetic:plain", "description": "",
         "python": ""},
        {"name": "py312", "image": RUNTIMES["py312"]["image"], "description": "Python 3.12",
         "python": ""},
    ]  # fmt: skip
    text = cli("runtimes", "list").stdout
    assert "py312\tregistry.example/kinetic:0.1.0-py3.12\t\tPython 3.12" in text
    with pytest.raises(kinetic.SpecError, match="known: plain, py312") as info:
        kinetic.run(runtime="py311")(placementfns.mount_type).run_async("/")
    assert info.value.option == "runtime"
    assert kinetic.list_jobs() == []
    job = kinetic.run(runtime="py312")(placementfns.mount_type).run_async("/")
    assert job.result(timeout=60, cleanup=False)  # (the simulated node runs no images)
    (container,) = job_of(kube, namespace, job.job_id).spec.template.spec.containers
    assert container.image == RUNTIMES["py312"]["image"]
    # One source of truth: an edit of the ConfigMap applies to the next job at once.
    table = {**RUNTIMES, "fresh": "registry.example/kinetic:fresh"}
    client.CoreV1Api(kube).patch_namespaced_config_map(
        "kinetic-runtimes", RELEASE_NAMESPACE, {"data": {"runtimes.json": json.dumps(table)}}
    )
    try:
        fresh = kinetic.run(runtime="fresh")(placementfns.mount_type).run_async("/")
        assert fresh.result(timeout=60, cleanup=False)
        (container,) = job_of(kube, namespace, fresh.job_id).spec.template.spec.containers
        assert container.image == "registry.example/kinetic:fresh"
    finally:
        client.CoreV1Api(kube).patch_namespaced_config_map(
            "kinetic-runtimes", RELEASE_NAMESPACE, {"data": {"runtimes.json": json.dumps(RUNTIMES)}}
        )


def test_network_policy_isolates_the_networks_pods(kube, namespace):
    fn = kinetic.run(network="team-a")(placementfns.mount_type)
    first, second = fn.run_async("/"), fn.run_async("/")
    for job in (first, second):
        assert job.result(timeout=60, cleanup=False)
    policies = client.NetworkingV1Api(kube).list_namespaced_network_policy(namespace).items
    (policy,) = policies  # one per network, shared by its jobs
    assert policy.metadata.name == "kinetic-network-team-a"
    assert policy.metadata.labels["app.kubernetes.io/managed-by"] == "kinetic"
    assert policy.spec.pod_selector.match_labels == {"kinetic.dev/network": "team-a"}
    assert policy.spec.policy_types == ["Ingress"]
    (rule,) = policy.spec.ingress
    (peer,) = rule._from  # "from" is a Python keyword
    assert peer.pod_selector.match_labels == {"kinetic.dev/network": "team-a"}
    assert peer.namespace_selector is None  # this namespace's pods only
    for job in (first, second):
        pods = (
            client.CoreV1Api(kube)
            .list_namespaced_pod(namespace, label_selector=f"kinetic.dev/job-id={job.job_id}")
            .items
        )
        assert pods and all(p.metadata.labels["kinetic.dev/network"] == "team-a" for p in pods)
        created = job_of(kube, namespace, job.job_id).metadata.creation_timestamp
        assert policy.metadata.creation_timestamp <= created  # in place before any pod


@needs_mounts
def test_cli_submit_with_volume_network_and_runtime(kube, namespace, claims, reads_runtimes):
    script = "cat /mnt/kt-data/input.txt && echo ok > /mnt/tmp/f && cat /mnt/tmp/f"
    name = f"cli-{uuid.uuid4().hex[:6]}"
    out = cli("jobs", "submit", "--name", name, "--runtime", "plain",
              "--volume", "data:/mnt/kt-data:ro", "--volume", "tmp=8Mi:/mnt/tmp",
              "--network", "team-b", "--follow", "--", "sh", "-c", script)  # fmt: skip
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.split()[0]
    assert "placed before the job" in out.stderr or "placed before the job" in out.stdout
    job = job_of(kube, namespace, job_id).spec.template
    assert job.metadata.labels["kinetic.dev/network"] == "team-b"
    assert job.spec.containers[0].image == "registry.example/kinetic:plain"
    mounts = {m.mount_path: bool(m.read_only) for m in job.spec.containers[0].volume_mounts}
    assert mounts["/mnt/kt-data"] is True and mounts["/mnt/tmp"] is False
    bad = cli("jobs", "submit", "--volume", "data:/tmp", "--", "true")
    assert bad.returncode == 2 and "invalid volumes=" in bad.stderr
