"""The operator's few writes to the API server, and its memory of what it wrote."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kinetic.k8s.names import GROUP, PLURAL, VERSION
from kinetic.runtimes import RuntimeTable, fetch_table

log = logging.getLogger("kinetic.operator")

_api: client.ApiClient | None = None
_written: dict[tuple[str, str], dict[str, Any]] = {}
_created: set[tuple[str, str]] = set()
_guard = threading.Lock()


def connect() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (read-only use)."""
    global _api
    if _api is None:
        try:
            config.load_incluster_config()
            _api = client.ApiClient()
        except config.ConfigException:
            _api = config.new_client_from_config()
    return _api


def create_job(namespace: str, body: dict[str, Any]) -> bool:
    """Create the Job; False if it exists already (adopted: it is ours by name and owner)."""
    key = (namespace, body["metadata"]["name"])
    with _guard:
        if key in _created:
            return False  # created by this process; the watch has not shown it yet
        _created.add(key)
    try:
        client.BatchV1Api(connect()).create_namespaced_job(namespace, body)
        return True
    except BaseException as exc:
        if isinstance(exc, ApiException) and exc.status == 409:
            return False
        # Not known to be created, whatever went wrong (a refusal, or a connection reset
        # before or after the request reached the server): the retry creates it, or finds
        # it (409). Forgetting only on ApiException left the job without a Job.
        with _guard:
            _created.discard(key)
        raise


def create_service(namespace: str, body: dict[str, Any]) -> None:
    """Create the job's Service; one that exists already is the job's (same name, owner)."""
    try:
        client.CoreV1Api(connect()).create_namespaced_service(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def adopt_secret(namespace: str, name: str, owner: dict[str, Any]) -> None:
    """Make the KineticJob own its secret_env Secret, so deleting the job deletes it."""
    patch = {"metadata": {"ownerReferences": [owner]}}
    try:
        client.CoreV1Api(connect()).patch_namespaced_secret(name, namespace, patch)
    except ApiException as exc:
        if exc.status != 404:  # no Secret: the pod will say CreateContainerConfigError
            raise


def read_runtimes() -> RuntimeTable:
    """The runtime table (ConfigMap kinetic-runtimes in the operator's own namespace), read
    each time a Job with a runtime is made: an edit applies to the next job at once."""
    namespace = os.environ.get("KINETIC_OPERATOR_NAMESPACE")
    if not namespace:
        return RuntimeTable(
            "the runtime table",
            problem="the operator does not know its namespace (KINETIC_OPERATOR_NAMESPACE), "
            "so it cannot read its runtime table",
        )
    try:
        return fetch_table(connect(), namespace)
    except ApiException as exc:
        if exc.status != 403:
            raise  # transient: the next event for this job tries again
        return RuntimeTable(
            f"ConfigMap {namespace}/kinetic-runtimes",
            problem=f"the operator may not read ConfigMap {namespace}/kinetic-runtimes "
            "(the chart's RBAC grants it)",
        )


def ensure_network_policy(body: dict[str, Any]) -> None:
    """Create a job network's NetworkPolicy unless it exists (shared by its jobs)."""
    meta = body["metadata"]
    try:
        client.NetworkingV1Api(connect()).create_namespaced_network_policy(meta["namespace"], body)
        log.info("network %s/%s: created NetworkPolicy", meta["namespace"], meta["name"])
    except ApiException as exc:
        if exc.status != 409:
            raise


def delete_job(namespace: str, name: str) -> None:
    try:
        client.BatchV1Api(connect()).delete_namespaced_job(
            name, namespace, propagation_policy="Background"
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


def patch_status(namespace: str, name: str, patch: dict[str, Any]) -> None:
    client.CustomObjectsApi(connect()).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": patch}
    )
    with _guard:
        current = _written.setdefault((namespace, name), {})
        current.update(patch)


def last_status(key: tuple[str, str], indexed: dict[str, Any]) -> dict[str, Any]:
    """The CR's status as the index shows it, overlaid with what we wrote since."""
    with _guard:
        return {**indexed, **_written.get(key, {})}


def _of_job(job_name: str, job_id: str) -> bool:
    return job_name == job_id or job_name.startswith(f"{job_id}-a")


def forget(key: tuple[str, str]) -> None:
    """The KineticJob is gone: drop what we remember of it and of its attempts' Jobs."""
    namespace, job_id = key
    with _guard:
        _written.pop(key, None)
        _created.difference_update(
            {k for k in _created if k[0] == namespace and _of_job(k[1], job_id)}
        )
