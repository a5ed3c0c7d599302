"""What the kubernetes backend checks against the cluster before it submits a job: the
runtime is in the cluster's table, each claimed PersistentVolumeClaim exists, and no volume
collides with the file store's mount. A bad value is a SpecError; nothing is created."""

from __future__ import annotations

import sys
from typing import Any

from kinetic.k8s.job_manifest import file_store_path
from kinetic.k8s.runtime_table import RuntimeTable, fetch_table
from kinetic.model.errors import BackendError, SpecError
from kinetic.spec import settings
from kinetic.spec.job_spec import JobSpec
from kinetic.wire.version_skew import minor, python_mismatch


def check_store_overlap(spec: JobSpec, host_path: str | None) -> None:
    """A file:// store's host path is mounted into every job at the same path: a volume
    may not be mounted there, above it (hiding it) or inside it."""
    if not host_path or not spec.volumes or file_store_path(spec.store or "") is None:
        return
    root = host_path.rstrip("/") or "/"
    for volume in spec.volumes:
        path = volume["path"]
        if path == root or root.startswith(path + "/") or path.startswith(root + "/"):
            raise SpecError(
                "volumes", path, f"a mount path apart from the file store's host path {root} "
                "(the operator mounts it into every job)",
            )  # fmt: skip


def check_references(api: Any, namespace: str, spec: JobSpec) -> None:
    """The runtime and the claims the spec names exist (what the caller may read of them)."""
    from kubernetes import client

    if spec.runtime:
        table = _readable_table(api)
        refusal = table.refusal(spec.runtime) if table and not table.problem else None
        if refusal:
            raise SpecError("runtime", spec.runtime, refusal + " (kinetic runtimes list)")
        if table and not table.problem:
            check_runtime_python(table, spec.runtime)
    core = client.CoreV1Api(api)
    for volume in spec.volumes or []:
        if volume["type"] != "claim":
            continue
        try:
            core.read_namespaced_persistent_volume_claim(volume["claim"], namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                raise SpecError(
                    "volumes", f"{volume['claim']}:{volume['path']}",
                    f"an existing PersistentVolumeClaim in namespace {namespace} "
                    f"(kubectl get pvc -n {namespace})",
                ) from None  # fmt: skip
            if exc.status != 403:  # forbidden: the scheduler reports a missing claim
                raise BackendError(
                    f"reading PersistentVolumeClaim {volume['claim']}: {exc.status} {exc.reason}"
                ) from None


def check_runtime_python(table: RuntimeTable, name: str) -> None:
    """A runtime that declares another Python minor version cannot load this caller's
    payload: refuse now rather than fail the job at load (reason VersionSkew)."""
    runtime = table.runtimes.get(name)
    here = ".".join(map(str, sys.version_info[:3]))
    if runtime and python_mismatch(here, runtime.python):
        raise SpecError(
            "runtime", name, f"a runtime with Python {minor(here)}: {name!r} runs Python "
            f"{runtime.python} and cannot load what Python {here} pickles (VersionSkew); "
            f"choose one with Python {minor(here)} (kinetic runtimes list)",
        )  # fmt: skip


def _readable_table(api: Any) -> RuntimeTable | None:
    """The table, or None when this user may not read it (the operator still checks)."""
    from kubernetes import client

    try:
        return fetch_table(api, settings.resolve("operator_namespace").value)
    except client.ApiException as exc:
        if exc.status == 403:
            return None
        raise BackendError(f"reading the runtime table: {exc.status} {exc.reason}") from None


def list_runtimes(operator_namespace: str | None = None) -> RuntimeTable:
    """The cluster's runtime table for ``kinetic runtimes list``; BackendError if unreadable."""
    from kubernetes import client

    from kinetic.backends.k8s_client import api_client

    api = api_client(settings.resolve("kubeconfig").value, settings.resolve("context").value)
    namespace = settings.resolve("operator_namespace", operator_namespace).value
    try:
        return fetch_table(api, namespace)
    except client.ApiException as exc:
        hint = ""
        if exc.status == 403:
            hint = (
                f": bind the chart's kinetic-user ClusterRole in namespace {namespace} too "
                "(the runtime table lives there)"
            )
        raise BackendError(
            f"reading the runtime table in namespace {namespace}: {exc.status} {exc.reason}{hint}"
        ) from None
