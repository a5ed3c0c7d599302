"""Fixtures of the ``realnode`` tier: a real kubelet node (``node.RealNode``), the chart
installed in the cluster as a user would (its rendered manifests, ``kubectl apply``, the
operator's Deployment running the image built from operator/Dockerfile), and a user
("alice") who submits jobs with the public API and CLI.

The tier runs with ``CI=true`` or ``KINETIC_REALNODE=1`` and skips otherwise, saying why.
When it should run but cannot (no root, a failed build, a node that never gets Ready), its
tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import render
from k8s.cluster_fixtures import bind_user
from kubernetes import client

from .node import IMAGE, RealNode, RealNodeUnavailable, enabled, find_node_binaries

HERE = Path(__file__).parent
RELEASE, RELEASE_NAMESPACE = "kinetic", "kinetic"  # the kind guide's helm install
OPERATOR = f"{RELEASE}-operator"

_binaries: tuple[Path, Path] | Exception | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    quiet = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.realnode)
            # The first test also starts the node, builds the image if it changed and
            # installs the chart: minutes on a slow machine.
            item.add_marker(pytest.mark.timeout(900))
            item.add_marker(quiet)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Builds take minutes the first time: here, before any test's timeout runs.
    global _binaries
    if not any(item.get_closest_marker("realnode") for item in session.items):
        return
    ok, why = enabled()
    if not ok:
        _binaries = RealNodeUnavailable(why)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line("realnode: finding (or building) the node's binaries and images…")
    try:
        _binaries = find_node_binaries()
    except Exception as e:
        _binaries = e


def _unavailable(reason: BaseException) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"real node unavailable in CI: {reason}")
    pytest.skip(f"real node unavailable: {reason}")


@pytest.fixture(scope="session")
def real_node() -> Iterator[RealNode]:
    if isinstance(_binaries, Exception) or _binaries is None:
        _unavailable(_binaries or RealNodeUnavailable("not collected"))
    assert isinstance(_binaries, tuple)
    try:
        node = RealNode(*_binaries).start()
    except Exception as e:
        _unavailable(e)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def shared_store_root() -> Iterator[Path]:
    """A file:// store's directory shared with the pods, set up as docs/kubernetes.md says
    (chmod 1777 and default ACLs for uid 10001, the image's user, and for us)."""
    root = Path(tempfile.mkdtemp(prefix="kinetic-store-", dir="/tmp"))
    root.chmod(0o1777)
    uid = os.getuid()
    subprocess.run(
        ["setfacl", "-m", "u:10001:rwx", "-d", "-m", "u:10001:rwx", "-d", "-m",
         f"u:{uid}:rwx", str(root)], check=True,
    )  # fmt: skip
    yield root
    shutil.rmtree(root, ignore_errors=True)


def kubectl(node: RealNode, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert node.cp
    proc = node.cp.kubectl(*args, check=False)
    if check and proc.returncode:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def chart_manifests(store_root: Path, values: dict[str, Any] | None = None) -> list[dict]:
    """What `helm template kinetic charts/kinetic -n kinetic --set image.repository=kinetic
    --set image.tag=dev --set fileStore.hostPath=…` prints (the kind guide's values)."""
    base = {
        "image": {"repository": "kinetic", "tag": IMAGE.split(":")[1]},
        "fileStore": {"hostPath": str(store_root)},
    }
    return render({**base, **(values or {})}, name=RELEASE, namespace=RELEASE_NAMESPACE)


def operator_pods(api: Any) -> list[Any]:
    return (
        client.CoreV1Api(api)
        .list_namespaced_pod(RELEASE_NAMESPACE, label_selector="app.kubernetes.io/component!=job")
        .items
    )


def wait_operator_ready(api: Any, timeout: float = 180, exclude: str = "") -> Any:
    """The operator Deployment's one Ready pod (not ``exclude``, a deleted one)."""
    deadline = time.monotonic() + timeout
    apps = client.AppsV1Api(api)
    while time.monotonic() < deadline:
        dep = apps.read_namespaced_deployment(OPERATOR, RELEASE_NAMESPACE)
        selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
        pods = (
            client.CoreV1Api(api)
            .list_namespaced_pod(RELEASE_NAMESPACE, label_selector=selector)
            .items
        )
        for pod in pods:
            ready = any(
                c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
            )
            if ready and pod.metadata.name != exclude and not pod.metadata.deletion_timestamp:
                return pod
        time.sleep(1)
    raise AssertionError(f"the operator Deployment has no Ready pod after {timeout}s")


@pytest.fixture(scope="session")
def release(real_node, shared_store_root, tmp_path_factory) -> Iterator[str]:
    """The chart installed as a user would: its rendered manifests applied with kubectl.
    The operator runs in the cluster, as its own ServiceAccount, from the built image."""
    path = tmp_path_factory.mktemp("release") / "kinetic.yaml"
    path.write_text(yaml.safe_dump_all(chart_manifests(shared_store_root)))
    kubectl(real_node, "create", "namespace", RELEASE_NAMESPACE)
    kubectl(real_node, "apply", "-f", str(path))
    assert real_node.cp
    with real_node.cp.api_client() as api:
        try:
            wait_operator_ready(api)
        except AssertionError:
            pods = kubectl(real_node, "get", "pods", "-n", RELEASE_NAMESPACE, "-o", "yaml",
                           check=False).stdout  # fmt: skip
            raise AssertionError(f"operator not Ready:\n{pods[-4000:]}") from None
    yield RELEASE
    kubectl(real_node, "delete", "--ignore-not-found", "--wait=false", "-f", str(path),
            check=False)  # fmt: skip


def operator_logs(node: RealNode, lines: int = 80) -> str:
    return kubectl(
        node, "logs", "-n", RELEASE_NAMESPACE, f"deployment/{OPERATOR}", f"--tail={lines}",
        check=False,
    ).stdout  # fmt: skip


@pytest.fixture
def k8s(real_node) -> Iterator[Any]:
    assert real_node.cp
    with real_node.cp.api_client() as api:
        yield api


@pytest.fixture
def namespace(k8s) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(k8s)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def user(real_node, release, namespace, k8s, shared_store_root, tmp_path, monkeypatch):
    """Alice, bound to the chart's user role in her namespace, sends jobs to the real node
    with a file:// store the pods share. Yields an admin client."""
    assert real_node.cp
    client.CoreV1Api(k8s).create_namespaced_service_account(
        namespace, {"metadata": {"name": "alice"}}
    )
    bind_user(k8s, namespace, release, namespace)
    kubeconfig = real_node.cp.service_account_kubeconfig(namespace, "alice")
    monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
    monkeypatch.setenv("KINETIC_KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("KINETIC_NAMESPACE", namespace)
    monkeypatch.setenv("KINETIC_OPERATOR_NAMESPACE", RELEASE_NAMESPACE)
    store = shared_store_root / tmp_path.name
    monkeypatch.setenv("KINETIC_STORE", store.as_uri())
    monkeypatch.setenv("KINETIC_FILE_STORE_HOST_PATH", str(shared_store_root))
    return k8s


def describe(node: RealNode, namespace: str, job_id: str) -> str:
    """Everything useful when a real-node test fails: the KineticJob, its pods, the logs."""
    parts = [
        kubectl(node, "get", "kj,jobs,pods", "-n", namespace, "-o", "wide", check=False).stdout,
        kubectl(node, "describe", "pods", "-n", namespace, "-l",
                f"kinetic.dev/job-id={job_id}", check=False).stdout[-3000:],
        "operator:\n" + operator_logs(node, 30),
    ]  # fmt: skip
    return "\n".join(parts)


def pod_json(node: RealNode, namespace: str, job_id: str) -> dict:
    out = kubectl(node, "get", "pods", "-n", namespace, "-l", f"kinetic.dev/job-id={job_id}",
                  "-o", "json").stdout  # fmt: skip
    items = json.loads(out)["items"]
    return items[-1] if items else {}
