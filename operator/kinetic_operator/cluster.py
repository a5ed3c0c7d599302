"""The operator's few writes to the API server, and its memory of what it wrote."""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kinetic.k8s.names import GROUP, PLURAL, VERSION

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
    except ApiException as exc:
        if exc.status == 409:
            return False
        with _guard:
            _created.discard(key)  # let the next event try again
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


def forget(key: tuple[str, str]) -> None:
    with _guard:
        _written.pop(key, None)
        _created.discard(key)
