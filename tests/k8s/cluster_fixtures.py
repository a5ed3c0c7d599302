"""Fixtures for end-to-end tests of the kubernetes backend: the chart's objects applied,
the operator running as a process with the chart's RBAC, and a user bound to the chart's
user role. A test module imports the fixtures it uses by name."""

from __future__ import annotations

import pytest
import yaml
from chart_support import render
from kubernetes import client

from .operator_proc import OperatorProcess, install_crd


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory):
    """The 'host path shared with the nodes': file:// stores under it reach pods."""
    return tmp_path_factory.mktemp("shared")


RELEASE_NAMESPACE = "kinetic-backend"


@pytest.fixture(scope="module")
def release(control_plane, tmp_path_factory):
    """The chart's objects applied (all but the Deployment, which would need an image):
    the operator then runs below as a process with exactly the chart's RBAC."""
    objects = render({}, name="kbe", namespace=RELEASE_NAMESPACE)
    path = tmp_path_factory.mktemp("release") / "chart.yaml"
    path.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Deployment"]))
    control_plane.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)
    control_plane.kubectl("apply", "-f", str(path))
    yield "kbe-kinetic"
    control_plane.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(path))


@pytest.fixture(scope="module")  # it watches every namespace: gone before other modules
def operator(control_plane, sim_node, release, shared_root, tmp_path_factory):
    with control_plane.api_client() as api:
        install_crd(api)
    kubeconfig = control_plane.service_account_kubeconfig(RELEASE_NAMESPACE, release)
    proc = OperatorProcess(
        kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        env={
            "KINETIC_FILE_STORE_HOST_PATH": str(shared_root),
            "KINETIC_OPERATOR_NAMESPACE": RELEASE_NAMESPACE,
        },
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def kube(operator, release, control_plane, namespace, shared_root, tmp_path, monkeypatch):
    """A user bound to exactly the chart's user role, sending jobs to the test cluster
    with a file:// store the nodes can see. Yields an admin client for assertions."""
    store = shared_root / tmp_path.name
    with control_plane.api_client() as api:
        client.CoreV1Api(api).create_namespaced_service_account(
            namespace, {"metadata": {"name": "alice"}}
        )
        client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "alice-kinetic"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": f"{release}-user"},
                "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": namespace}],
            },
        )  # fmt: skip
        kubeconfig = control_plane.service_account_kubeconfig(namespace, "alice")
        monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
        monkeypatch.setenv("KINETIC_KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("KINETIC_NAMESPACE", namespace)
        monkeypatch.setenv("KINETIC_STORE", store.as_uri())
        monkeypatch.setenv("KINETIC_FILE_STORE_HOST_PATH", str(shared_root))
        yield api


def pods_of(api, namespace, job_id):
    return (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"kinetic.dev/job-id={job_id}")
        .items
    )
