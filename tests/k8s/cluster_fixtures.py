"""Helpers for end-to-end tests of the kubernetes backend: the chart's objects applied,
a user ("alice") bound to the chart's user role. The fixtures built on them (``release``,
``operator``, ``kube``) are in conftest.py; a module that needs other chart values
overrides ``release`` (and ``release_namespace``) with ``chart_release``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from chart_support import render
from kubernetes import client

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
