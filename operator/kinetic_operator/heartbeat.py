"""The operator's heartbeat: a ``coordination.k8s.io/v1`` Lease renewed every 15 seconds.

``kinetic doctor`` reads the Lease ``kinetic-operator`` in the operator's namespace to tell
whether an operator is running: it is alive when the Lease was renewed within its
``leaseDurationSeconds`` (60). The namespace comes from ``KINETIC_OPERATOR_NAMESPACE``,
which the Helm chart sets from the downward API; without it no Lease is written (an
operator run by hand need not have anywhere to write it), and the log says so.

One small periodic write (a merge patch; a create the first time), in a thread of its own:
it is not a poll over jobs, and not leader election (the chart runs one replica; nothing
reads ``holderIdentity`` but people). The Lease also says which namespaces the operator
serves (annotation ``kinetic.dev/namespaces``: ``*`` for all, else a comma-separated list),
so that doctor can tell a user whose namespace is not served. A failed renewal is logged
once and retried on the next beat; it never stops the operator.

Where it sits: the ``Controller`` (controller.py) starts one with ``start`` when the
operator starts, and stops it when the operator stops.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from kinetic.k8s.names import ANNOTATION_SERVED_NAMESPACES, OPERATOR_LEASE, SELECTOR
from kinetic_operator.operator_settings import ENV_NAMESPACE

log = logging.getLogger("kinetic.operator")

RENEW_SECONDS = 15.0
LEASE_SECONDS = 60
REQUEST_TIMEOUT = 10.0
MERGE_PATCH = "application/merge-patch+json"


def micro_time(when: datetime | None = None) -> str:
    """A Lease's MicroTime: RFC 3339 in UTC with microseconds."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


class Heartbeat:
    """Renews the Lease ``kinetic-operator`` in ``namespace``: ``beat()`` once, or
    ``start()`` a thread that beats every ``every`` seconds until ``stop()``.

    ``served``: the namespaces the operator serves (``[]``: all of them), written to the
    Lease's annotation; ``None`` when unknown, which removes the annotation.
    """

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        identity: str | None = None,
        served: list[str] | None = None,
        every: float = RENEW_SECONDS,
        duration: int = LEASE_SECONDS,
    ) -> None:
        self.api, self.namespace = api, namespace
        self.identity = identity or socket.gethostname()  # a pod's hostname is its name
        self.served = served
        self.every, self.duration = every, duration
        self.beats = 0
        self._acquired = False
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _annotations(self) -> dict[str, str | None]:
        value = None if self.served is None else (",".join(self.served) or "*")
        return {ANNOTATION_SERVED_NAMESPACES: value}

    def beat(self) -> None:
        """Renew the Lease with one merge patch; create it if it does not exist."""
        now = micro_time()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "renewTime": now,
        }
        if not self._acquired:
            spec["acquireTime"] = now  # this process holds it from now on
        coord = client.CoordinationV1Api(self.api)
        patch = {"metadata": {"annotations": self._annotations()}, "spec": spec}
        try:
            coord.patch_namespaced_lease(
                OPERATOR_LEASE, self.namespace, patch,
                _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status != 404:
                raise
            annotations = {k: v for k, v in self._annotations().items() if v is not None}
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": OPERATOR_LEASE,
                    "labels": dict(SELECTOR),
                    "annotations": annotations,
                },
                "spec": {**spec, "acquireTime": now},
            }
            try:
                # The client serializes dict bodies as they are; its annotations say V1Lease.
                coord.create_namespaced_lease(
                    self.namespace,
                    body,  # type: ignore[arg-type]
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as again:
                if again.status != 409:  # created meanwhile: the next beat renews it
                    raise
        self._acquired = True
        self.beats += 1

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # never let the heartbeat take the operator down
                if not self._failing:
                    log.warning(
                        "heartbeat: cannot renew Lease %s/%s (%s); retrying every %.0f s. "
                        "Until it succeeds, kinetic doctor reports this operator as not running",
                        self.namespace, OPERATOR_LEASE, _describe(exc), self.every,
                    )  # fmt: skip
                self._failing = True
            else:
                if self._failing:
                    log.info("heartbeat: Lease %s/%s renewed again", self.namespace, OPERATOR_LEASE)
                self._failing = False
            if self._stop.wait(self.every):
                return

    def start(self) -> Heartbeat:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kinetic-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = REQUEST_TIMEOUT) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def start(
    api: client.ApiClient, namespace: str | None, served: tuple[str, ...] | None = None
) -> Heartbeat | None:
    """Start beating in the operator's ``namespace`` (``$KINETIC_OPERATOR_NAMESPACE``, read
    into operator_settings.py); without one, log why there is no Lease. ``served``: see
    Heartbeat."""
    if not namespace:
        log.info(
            "heartbeat: %s is not set, so no Lease %s is written "
            "(kinetic doctor cannot tell that this operator is alive)",
            ENV_NAMESPACE, OPERATOR_LEASE,
        )  # fmt: skip
        return None
    beat = Heartbeat(api, namespace, served=None if served is None else list(served)).start()
    log.info(
        "heartbeat: renewing Lease %s/%s every %.0f s", namespace, OPERATOR_LEASE, RENEW_SECONDS
    )
    return beat
