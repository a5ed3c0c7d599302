"""Helpers for end-to-end tests of the kubernetes backend: the chart's objects applied,
a user ("alice") bound to the chart's user role. The fixtures built on them (``release``,
``operator``, ``kube``) are in conftest.py; a module that needs other chart values
overrides ``release`` (and ``release_namespace``) with ``chart_release``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from chart_support import render
from kubernetes import client

from .controlplane import free_ports
from .operator_proc import OperatorProcess, install_crd

RELEASE_NAMESPACE = "kinetic-backend"


@contextmanager
def chart_release(
    control_plane, workdir: Path, name: str, namespace: str, values: dict | None = None
) -> Iterator[str]:
    """The chart's objects applied (all but the Deployment, which would need an image): an
    operator then runs as a process with exactly the chart's RBAC. Yields the full name."""
    objects = render(values or {}, name=name, namespace=namespace)
    path = workdir / "chart.yaml"
    path.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Deployment"]))
    control_plane.kubectl("create", "namespace", namespace, check=False)
    control_plane.kubectl("apply", "-f", str(path))
    yield f"{name}-kinetic"
    control_plane.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(path))


@contextmanager
def run_operator(
    control_plane, release: str, release_namespace: str, shared_root: Path, log_dir: Path,
    *, env: dict[str, str] | None = None, wrapper: Sequence[str] = (),
) -> Iterator[OperatorProcess]:  # fmt: skip
    """The operator as the chart runs it (its RBAC, its env), with a file store under
    ``shared_root`` and the progress endpoint on; ``env`` and ``wrapper`` add to that."""
    with control_plane.api_client() as api:
        install_crd(api)
    kubeconfig = control_plane.service_account_kubeconfig(release_namespace, release)
    (port,) = free_ports(1)  # the progress endpoint; the simulated pods are on this machine
    proc = OperatorProcess(
        kubeconfig,
        log_dir / "operator.log",
        env={
            "KINETIC_FILE_STORE_HOST_PATH": str(shared_root),
            "KINETIC_OPERATOR_NAMESPACE": release_namespace,
            "KINETIC_PROGRESS_LISTEN": f"127.0.0.1:{port}",
            "KINETIC_PROGRESS_URL": f"http://127.0.0.1:{port}/progress",
            **(env or {}),
        },
        wrapper=wrapper,
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def bind_user(api: Any, namespace: str, release: str, user_namespace: str) -> str:
    """Bind alice (of ``user_namespace``) to the chart's user role in ``namespace``."""
    name = f"alice-{user_namespace}"
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": f"{release}-user"},
            "subjects": [{"kind": "ServiceAccount", "name": "alice",
                          "namespace": user_namespace}],
        },
    )  # fmt: skip
    return name


def pods_of(api, namespace, job_id):
    return (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"kinetic.dev/job-id={job_id}")
        .items
    )
