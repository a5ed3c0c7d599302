"""The operator's few requests to the API server, and nothing else.

Where it sits: the ``Controller`` (controller.py) decides, with the pure functions of
decisions.py, and acts through one ``Cluster``: create a job's Job (and its Service,
NetworkPolicy, Secret ownership), delete a Job, patch a KineticJob's status, read the
runtime table (and, for notify=, a job's Secret and its pod's log tail). It keeps no
memory of what it did: what a job's syncs must remember between them is in the job's
state (state.py), which goes when the job does.

Errors propagate unchanged, except the answers that mean "already so" (409 on a create,
404 on a delete); the Controller tries a failed sync again.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kinetic.k8s.kueue import KUEUE_GROUP
from kinetic.k8s.kueue_workload import (
    JOB_UID_LABEL,
    VISIBILITY_GROUP,
    VISIBILITY_VERSIONS,
    WORKLOAD_PLURAL,
    WORKLOAD_VERSIONS,
)
from kinetic.k8s.names import BATCH_PLURAL, CONTAINER, GROUP, PLURAL, VERSION
from kinetic.k8s.runtime_table import RuntimeTable, fetch_table

log = logging.getLogger("kinetic.operator")


# Connections kept open to the API server: more than the requests that can run at once
# (kopf's 20 handler threads, the batch driver's 64 creates, the deferred writes' 4,
# timers, the progress endpoint).
# Below that, urllib3 opens a fresh TLS connection for each request over the limit and
# drops it after: a handshake (and a read of the CA bundle) on both sides, per request,
# which under a burst of jobs cost the operator a fifth of its time.
CONNECTIONS = 128


def connect() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig."""
    settings = type.__call__(client.Configuration)  # a fresh one, not the global default
    try:
        config.load_incluster_config(client_configuration=settings)
    except config.ConfigException:
        config.load_kube_config(client_configuration=settings)
    settings.connection_pool_maxsize = CONNECTIONS
    if not settings.verify_ssl:  # the kubeconfig says insecure-skip-tls-verify: say it once,
        # not in a warning per request (urllib3 repeats its warning every time)
        log.warning("the API server's certificate is not verified (insecure-skip-tls-verify)")
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return client.ApiClient(settings)


class Cluster:
    """Requests on behalf of the operator running in ``namespace`` (None: outside a cluster)."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None) -> None:
        self.api, self.namespace = api, namespace
        self._visibility: Any = None  # Kueue's visibility API (pending_workloads)

    def create_job(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create the Job: True, or False if it exists already (ours by name and owner: a
        create whose answer was lost, or made by an earlier run of the operator)."""
        try:
            # The same POST as BatchV1Api.create_namespaced_job, through the client's generic
            # path: the body goes as the dict it is and the answer comes back as JSON, not
            # validated against and built into the client's V1Job models (py-spy: about a
            # twentieth of the operator's CPU while a batch started a thousand Jobs).
            client.CustomObjectsApi(self.api).create_namespaced_custom_object(
                "batch", "v1", namespace, "jobs", body
            )
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    def create_service(self, namespace: str, body: dict[str, Any]) -> None:
        """Create the job's Service; one that exists already is the job's (same name, owner)."""
        try:
            client.CoreV1Api(self.api).create_namespaced_service(namespace, body)  # type: ignore[arg-type]  # the client takes dict bodies
        except ApiException as exc:
            if exc.status != 409:
                raise

    def adopt_secret(self, namespace: str, name: str, owner: dict[str, Any]) -> None:
        """Make the KineticJob own its secret_env Secret, so deleting the job deletes it."""
        patch = {"metadata": {"ownerReferences": [owner]}}
        try:
            client.CoreV1Api(self.api).patch_namespaced_secret(name, namespace, patch)
        except ApiException as exc:
            if exc.status != 404:  # no Secret: the pod will say CreateContainerConfigError
                raise

    def put_secret_value(
        self, namespace: str, name: str, key: str, value: str, labels: dict[str, str]
    ) -> None:
        """Set one key of a Secret, made if missing (a retry's notify URLs, copied)."""
        body = {"metadata": {"name": name, "labels": labels}, "type": "Opaque",
                "stringData": {key: value}}  # fmt: skip
        try:
            client.CoreV1Api(self.api).create_namespaced_secret(namespace, body)  # type: ignore[arg-type]  # the client takes dict bodies
        except ApiException as exc:
            if exc.status != 409:  # it exists (secret_env values): add the key
                raise
            patch = {"stringData": {key: value}}
            client.CoreV1Api(self.api).patch_namespaced_secret(name, namespace, patch)

    def list_workloads(self, namespace: str, job_uid: str) -> list[dict[str, Any]] | None:
        """Kueue: the Workloads of one Job (by Kueue's job-uid label); None when they cannot
        be read (no Kueue, or the chart's RBAC without it): the Job's own word is used."""
        api = client.CustomObjectsApi(self.api)
        for version in WORKLOAD_VERSIONS:
            try:
                found = cast(dict[str, Any], api.list_namespaced_custom_object(
                    KUEUE_GROUP, version, namespace, WORKLOAD_PLURAL,
                    label_selector=f"{JOB_UID_LABEL}={job_uid}", _request_timeout=10,
                ))  # fmt: skip
            except ApiException as exc:
                if exc.status in (403, 404):
                    continue  # this version not served (or not allowed): the next one
                raise
            return list(found.get("items") or [])
        return None

    def pending_workloads(self, namespace: str, queue: str) -> list[dict[str, Any]] | None:
        """Kueue's visibility API: the LocalQueue's pending workloads with their positions;
        None where it is not served (an old Kueue, its API service off) or not allowed."""
        if self._visibility is None:  # the path's "Q/pendingworkloads" keeps its slash
            settings = copy.copy(self.api.configuration)
            settings.safe_chars_for_path_param = "/"
            self._visibility = client.CustomObjectsApi(client.ApiClient(settings))
        for version in VISIBILITY_VERSIONS:
            try:
                data = self._visibility.get_namespaced_custom_object(
                    VISIBILITY_GROUP, version, namespace, "localqueues",
                    f"{queue}/pendingworkloads", _request_timeout=10,
                )  # fmt: skip
            except ApiException as exc:
                if exc.status in (403, 404, 503):
                    continue
                raise
            return list((data or {}).get("items") or [])
        return None

    def read_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded (notify=: the URLs); None when the key is absent."""
        import base64

        secret = client.CoreV1Api(self.api).read_namespaced_secret(name, namespace)
        raw = (secret.data or {}).get(key)
        return base64.b64decode(raw).decode() if raw else None

    def pod_log_tail(self, namespace: str, pod: str, lines: int) -> str:
        """The last ``lines`` of the job container's log (bounded, with a timeout)."""
        text = client.CoreV1Api(self.api).read_namespaced_pod_log(
            pod, namespace, container=CONTAINER, tail_lines=lines, limit_bytes=65536,
            _request_timeout=10,
        )  # fmt: skip
        return str(text or "")

    def read_runtimes(self) -> RuntimeTable:
        """The runtime table (ConfigMap kinetic-runtimes in the operator's own namespace),
        read each time a Job with a runtime is made: an edit applies to the next job at once."""
        if not self.namespace:
            return RuntimeTable(
                "the runtime table",
                problem="the operator does not know its namespace (KINETIC_OPERATOR_NAMESPACE), "
                "so it cannot read its runtime table",
            )
        try:
            return fetch_table(self.api, self.namespace)
        except ApiException as exc:
            if exc.status != 403:
                raise  # transient: the sync is tried again
            return RuntimeTable(
                f"ConfigMap {self.namespace}/kinetic-runtimes",
                problem=f"the operator may not read ConfigMap {self.namespace}/kinetic-runtimes "
                "(the chart's RBAC grants it)",
            )

    def ensure_network_policy(self, body: dict[str, Any]) -> None:
        """Create a job network's NetworkPolicy unless it exists (shared by its jobs)."""
        meta = body["metadata"]
        try:
            client.NetworkingV1Api(self.api).create_namespaced_network_policy(
                meta["namespace"],
                body,  # type: ignore[arg-type]  # the client takes dict bodies
            )
            log.info("network %s/%s: created NetworkPolicy", meta["namespace"], meta["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise

    def delete_job(self, namespace: str, name: str) -> None:
        try:
            client.BatchV1Api(self.api).delete_namespaced_job(
                name, namespace, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": patch}
        )

    # -- batches (batch_driver.py) ---------------------------------------------------------------
    def create_kineticjob(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A batch's item: the KineticJob as created, or None if it exists already (a lost
        answer, an earlier run)."""
        try:
            created = client.CustomObjectsApi(self.api).create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body
            )
            return cast(dict[str, Any], created)
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise

    def cancel_kineticjob(self, namespace: str, name: str) -> None:
        """spec.cancel on a KineticJob (the Controller then cancels it); gone is fine."""
        try:
            client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"spec": {"cancel": True}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def label_kineticjob(self, namespace: str, name: str, labels: dict[str, str | None]) -> None:
        """Set (None: remove) labels of a KineticJob; gone is fine."""
        try:
            client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"labels": labels}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_batch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, BATCH_PLURAL, name, {"status": patch}
        )


def api_error_text(exc: Exception) -> str:
    """One line: the API server's own message for its errors, else the exception."""
    try:
        return f"{exc.status}: {json.loads(exc.body)['message']}"  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, KeyError):
        return f"{type(exc).__name__}: {exc}"
