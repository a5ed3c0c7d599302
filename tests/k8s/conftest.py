"""Fixtures for tests against the real Kubernetes test control plane.

``control_plane`` (session): etcd + kube-apiserver + kube-controller-manager + kube-scheduler,
with the chart's CRDs already installed.
Unavailable binaries skip the tests with the reason, except with ``CI=true``, where they
fail: CI must run them. ``sim_node`` (session): one simulated GPU node that runs the pods
scheduled to it as local processes (see ``simnode``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import render
from helpers import unavailable, wait_for
from kubernetes import client

from .cluster_fixtures import RELEASE_NAMESPACE, bind_user, chart_release, run_operator
from .controlplane import ControlPlane, ControlPlaneUnavailable, find_binaries
from .operator_proc import install_crd
from .simnode import SimNode

HERE = Path(__file__).parent
# The product's CRDs, installed before the controller-manager starts so that the garbage
# collector cascades from KineticJobs at once (it discovers new resources only every 30 s).
CHART_CRDS = HERE.parents[1] / "charts" / "kinetic" / "crds"

SIM_NODE_LABELS = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
SIM_NODE_CAPACITY = {"nvidia.com/gpu": "1"}

_binaries: Path | ControlPlaneUnavailable | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The test API server and the simulated kubelet use self-signed certificates by design.
    quiet = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(quiet)


def pytest_collection_finish(session: pytest.Session) -> None:
    # The first build takes minutes: do it here, before any test runs, so no per-test
    # timeout covers it.
    global _binaries
    if not any(item.get_closest_marker("k8s") for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line("k8s: finding (or building) the test control plane binaries…")
    try:
        _binaries = find_binaries()
    except ControlPlaneUnavailable as e:
        _binaries = e


def _unavailable(reason: Exception) -> None:
    unavailable(f"Kubernetes test control plane unavailable: {reason}")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    try:
        if isinstance(_binaries, ControlPlaneUnavailable):
            raise _binaries
        manifests = [CHART_CRDS] if CHART_CRDS.is_dir() else []
        cp = ControlPlane(bin_dir=_binaries, manifests=manifests).start()
    except ControlPlaneUnavailable as e:
        _unavailable(e)
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def sim_node(control_plane: ControlPlane) -> Iterator[SimNode]:
    node = SimNode(
        control_plane.kubeconfig,
        name="sim-gpu-node",
        labels=SIM_NODE_LABELS,
        capacity=SIM_NODE_CAPACITY,
    ).start()
    yield node
    node.stop()


@pytest.fixture
def k8s(control_plane: ControlPlane) -> Iterator[Any]:
    """An admin ``kubernetes.client.ApiClient``."""
    with control_plane.api_client() as api:
        yield api


@pytest.fixture
def namespace(k8s: Any) -> Iterator[str]:
    """A fresh namespace per test; deleted afterwards (the namespace controller finishes)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(k8s)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


# -- the chart, the operator and a user, for end-to-end tests of the backend -------------
@pytest.fixture(scope="session")
def shared_root(tmp_path_factory):
    """The 'host path shared with the nodes': file:// stores under it reach pods."""
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def release_namespace() -> str:
    return RELEASE_NAMESPACE


@pytest.fixture(scope="module")
def release_values() -> dict[str, Any]:
    """The chart values of a module's release; a module overrides this to change them."""
    return {}


@pytest.fixture(scope="module")
def release(control_plane, tmp_path_factory, release_namespace, release_values):
    with chart_release(
        control_plane,
        tmp_path_factory.mktemp("release"),
        "kbe",
        release_namespace,
        release_values,
    ) as full_name:
        yield full_name


@pytest.fixture(scope="module")
def crd_installed(control_plane) -> None:
    """The KineticJob CRD applied and served by discovery (Established comes a moment
    before discovery serves the new resource to clients)."""
    from kinetic.k8s.names import GROUP, VERSION

    with control_plane.api_client() as api:
        install_crd(api)

        def served() -> bool:
            try:
                client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
                return True
            except client.ApiException:
                return False

        wait_for(served, timeout=30, what=f"discovery to serve {GROUP}/{VERSION}")
    # kubectl keeps its own discovery cache: wait until it, too, knows the short name.
    wait_for(
        lambda: "kineticjobs" in control_plane.kubectl("api-resources", check=False).stdout,
        timeout=30,
        what="kubectl's discovery to list kineticjobs",
    )


@pytest.fixture
def install_chart(control_plane, tmp_path) -> Iterator[Callable[..., str]]:
    """Apply the rendered chart under a fresh release name (its Deployment only as a
    server-side dry run: nothing runs its image here); returns the release's full name.
    Cluster-scoped objects are removed after the test; the namespace takes the rest."""
    files: list[Path] = []

    def install(namespace: str, values: dict[str, Any] | None = None) -> str:
        release = f"t{uuid.uuid4().hex[:6]}"
        objects = render(values, name=release, namespace=namespace)
        workloads = [o for o in objects if o["kind"] == "Deployment"]
        others = [o for o in objects if o["kind"] != "Deployment"]
        applied = tmp_path / f"{release}.yaml"
        applied.write_text(yaml.safe_dump_all(others))
        files.append(applied)
        control_plane.kubectl("apply", "-f", str(applied))
        dry = tmp_path / f"{release}-dry-run.yaml"
        dry.write_text(yaml.safe_dump_all(workloads))
        control_plane.kubectl("apply", "--dry-run=server", "-f", str(dry))
        return f"{release}-kinetic"

    yield install
    for path in files:
        control_plane.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(path))


@pytest.fixture(scope="module")  # it watches every namespace: gone before other modules
def operator(control_plane, sim_node, release, release_namespace, shared_root, tmp_path_factory):
    with run_operator(control_plane, release, release_namespace, shared_root,
                      tmp_path_factory.mktemp("operator")) as proc:  # fmt: skip
        yield proc


@pytest.fixture
def kube(
    operator, release, release_namespace, control_plane, namespace, shared_root, tmp_path,
    monkeypatch,
):  # fmt: skip
    """Alice, bound to exactly the chart's user role in her namespace, sends jobs to the
    test cluster with a file:// store the nodes can see. Yields an admin client."""
    with control_plane.api_client() as api:
        client.CoreV1Api(api).create_namespaced_service_account(
            namespace, {"metadata": {"name": "alice"}}
        )
        bind_user(api, namespace, release, namespace)
        kubeconfig = control_plane.service_account_kubeconfig(namespace, "alice")
        monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
        monkeypatch.setenv("KINETIC_KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("KINETIC_NAMESPACE", namespace)
        monkeypatch.setenv("KINETIC_OPERATOR_NAMESPACE", release_namespace)
        monkeypatch.setenv("KINETIC_STORE", (shared_root / tmp_path.name).as_uri())
        monkeypatch.setenv("KINETIC_FILE_STORE_HOST_PATH", str(shared_root))
        yield api
