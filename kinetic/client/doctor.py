"""``kinetic doctor``: check that the configured store works, end to end, and (for the
kubernetes backend) that the cluster is ready for jobs.

Each check says what it did and, when it fails, why (the store's errors already say what
to do: create the bucket, log in, grant a role). A probe object under ``_kinetic_doctor/``
is written, read back, listed, appended to as a log, and deleted; nothing else is touched.

``check_cluster`` only reads: the API server's version, the discovery document of the
KineticJob API, the operator's heartbeat Lease, and SelfSubjectAccessReviews (which ask
the API server what you may do; they create nothing).
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kinetic.store import Store

PROBE_ROOT = "_kinetic_doctor"
# Doctor should answer quickly: a store that is unreachable fails within this many seconds
# instead of retrying for the full default budget.
GCS_DEADLINE = 20.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _open(uri: str) -> Store:
    from kinetic.store import normalize_uri, open_store

    canonical = normalize_uri(uri)
    if canonical.startswith("gs://"):
        from kinetic.store.gcs import GCSStore
        from kinetic.store.gcs_errors import GCSSettings

        return GCSStore(canonical, settings=GCSSettings.from_env(deadline=GCS_DEADLINE))
    return open_store(canonical)


def _timed(fn: Callable[[], str]) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        detail = fn()
    except Exception as exc:  # every failure becomes a failed check, never a traceback
        return False, f"{type(exc).__name__}: {exc}"
    return True, f"{detail} ({(time.monotonic() - started) * 1000:.0f} ms)"


def check_store(uri: str) -> list[Check]:
    """Write, read back, list, log and delete a probe object in the store at ``uri``."""
    checks: list[Check] = []
    try:
        store = _open(uri)
    except Exception as exc:
        return [Check("store URI", False, f"{type(exc).__name__}: {exc}")]
    checks.append(Check("store URI", True, store.uri))

    prefix = f"{PROBE_ROOT}/{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    key = f"{prefix}/probe.txt"
    payload = f"kinetic doctor probe {time.time()}\n".encode()

    def write() -> str:
        store.write_bytes(key, payload, if_absent=True)
        return f"wrote {key}"

    def read() -> str:
        back = store.read_bytes(key)
        if back != payload:
            raise RuntimeError(f"read back {len(back)} bytes that differ from what was written")
        return f"read back {len(back)} bytes intact"

    def listing() -> str:
        keys = [o.key for o in store.list(prefix)]
        if key not in keys:
            raise RuntimeError(f"{key} is missing from the listing of {prefix} ({keys})")
        return f"listed {prefix}"

    def logs() -> str:
        store.append_log(f"{prefix}/logs", 0, b"first\n")
        store.append_log(f"{prefix}/logs", 6, b"second\n")
        data, end = store.read_log(f"{prefix}/logs", 3)
        if (data, end) != (b"st\nsecond\n", 13):
            raise RuntimeError(f"log read from offset 3 returned {data!r}, next offset {end}")
        return "appended and read back a log"

    def delete() -> str:
        count = store.delete_prefix(prefix)
        if store.exists(key):
            raise RuntimeError(f"{key} still exists after deleting {prefix}")
        return f"deleted {count} probe objects"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("write", write),
        ("read", read),
        ("list", listing),
        ("logs", logs),
        ("delete", delete),
    ]
    for index, (name, step) in enumerate(steps):
        ok, detail = _timed(step)
        checks.append(Check(name, ok, detail))
        if not ok:
            if name != "write":  # something was written: try to leave nothing behind
                _timed(lambda: str(store.delete_prefix(prefix)))
            for later, _ in steps[index + 1 :]:
                checks.append(Check(later, False, f"skipped: {name} failed"))
            break
    return checks


# -- the cluster (kubernetes backend) -----------------------------------------------------------
# Each request gets this long: doctor should answer quickly, not hang on an unreachable API.
REQUEST_TIMEOUT = 10.0
# The operator renews its heartbeat Lease every 15 s; without leaseDurationSeconds on the
# Lease, one older than this means no operator is running.
LEASE_SECONDS = 60
INSTALL_HINT = (
    "install the Helm chart: helm install kinetic charts/kinetic -n kinetic --create-namespace "
    "(docs/kubernetes.md)"
)
# What a user needs in the job namespace: check name -> (API group, resource, verbs), where
# group None is the KineticJob API's.
ACCESS: dict[str, list[tuple[str | None, str, tuple[str, ...]]]] = {
    "kineticjobs access": [
        (None, "kineticjobs", ("create", "get", "list", "watch", "patch", "delete"))
    ],
    "pod logs access": [("", "pods", ("get",)), ("", "pods/log", ("get",))],
}


class _Problem(Exception):
    """A failed check whose message already says what is wrong and what to do."""


def _short(exc: BaseException) -> str:
    if isinstance(exc, _Problem):
        return str(exc)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "reason"):
        text = f"{status} {exc.reason}"  # an ApiException: its body repeats the same
        if status == 401:
            text += (
                ": the cluster rejected your credentials; refresh them (e.g. `gcloud container "
                "clusters get-credentials …`, `kind export kubeconfig --name …`)"
            )
        return text
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 400 else text[:399] + "…"


def _run_check(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as exc:  # every failure becomes a failed check, never a traceback
        return Check(name, False, _short(exc))


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _with_headers(response: Any) -> tuple[Any, Any]:
    """(data, headers) of a ``*_with_http_info`` call: a tuple or an ApiResponse."""
    if isinstance(response, tuple):
        return response[0], response[2]
    return response.data, response.headers


def _server_now(headers: Any) -> datetime:
    """The API server's clock (its Date header), so a skewed local clock cannot make a
    fresh heartbeat look stale; this machine's clock when there is no such header."""
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime((headers or {})["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def check_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    operator_namespace: str | None = None,
    *,
    group: str | None = None,
) -> list[Check]:
    """Check what the kubernetes backend needs: the cluster answers, the KineticJob API is
    served, the operator is alive (its heartbeat Lease is fresh), and you may run jobs in
    ``namespace`` (SelfSubjectAccessReviews). Unset arguments resolve as they do for jobs
    (settings, then the kubeconfig). ``group`` overrides the API group (tests)."""
    from kubernetes import client

    from kinetic.backends.k8s_client import api_client, default_namespace
    from kinetic.k8s.names import (
        ANNOTATION_SERVED_NAMESPACES,
        GROUP,
        OPERATOR_LEASE,
        PLURAL,
        VERSION,
    )
    from kinetic.spec import settings

    group = group or GROUP
    kubeconfig = settings.resolve("kubeconfig", kubeconfig).value
    context = settings.resolve("context", context).value
    namespace = settings.resolve("namespace", namespace).value or default_namespace(
        kubeconfig, context
    )
    operator_ns = settings.resolve("operator_namespace", operator_namespace).value
    names = ["cluster", "CRD", "operator", *ACCESS]

    api = None

    def reach() -> str:
        nonlocal api
        api = api_client(kubeconfig, context)
        host = api.configuration.host
        try:
            info = client.VersionApi(api).get_code(_request_timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            raise _Problem(
                f"cannot reach the cluster at {host}: {_short(exc)}. Check the kubeconfig and "
                "context (the kubeconfig and context settings; `kubectl cluster-info`)"
            ) from None
        where = f"context {context}" if context else "the current context"
        return f"{host} answers: Kubernetes {info.git_version} ({where}, namespace {namespace})"

    first = _run_check("cluster", reach)
    if not first.ok or api is None:
        return [first] + [Check(n, False, "skipped: the cluster is unreachable") for n in names[1:]]
    checks = [first]

    def crd() -> str:
        try:
            found = client.CustomObjectsApi(api).get_api_resources(
                group, VERSION, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                raise _Problem(
                    f"the API {group}/{VERSION} is not served: the KineticJob CRD "
                    f"({PLURAL}.{group}) is not installed; {INSTALL_HINT}"
                ) from None
            raise
        resource = next((r for r in found.resources or [] if r.name == PLURAL), None)
        if resource is None:
            raise _Problem(
                f"{group}/{VERSION} is served but has no {PLURAL}: the CRD is not Kinetic's "
                f"or is outdated; kubectl apply -f charts/kinetic/crds/kineticjobs.yaml"
            )
        short = ", ".join(resource.short_names or []) or "none"
        return f"{PLURAL}.{group}/{VERSION} is served (short names: {short})"

    def operator() -> str:
        where = f"{operator_ns}/{OPERATOR_LEASE}"
        try:
            response = client.CoordinationV1Api(api).read_namespaced_lease_with_http_info(
                OPERATOR_LEASE, operator_ns, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                raise _Problem(
                    f"no heartbeat: there is no Lease {OPERATOR_LEASE} in namespace "
                    f"{operator_ns}. If the chart is installed in another namespace, set the "
                    f"operator_namespace setting (KINETIC_OPERATOR_NAMESPACE) to it; otherwise "
                    f"{INSTALL_HINT}"
                ) from None
            if status == 403:
                raise _Problem(
                    f"cannot tell: you may not read the Lease {where}. Bind the chart's "
                    f"kinetic-user ClusterRole in namespace {operator_ns} as well (kubectl "
                    f"create rolebinding kinetic-user -n {operator_ns} "
                    "--clusterrole=kinetic-user --user=YOU), or ask someone who can to run "
                    "kinetic doctor"
                ) from None
            raise
        lease, headers = _with_headers(response)
        now, spec = _server_now(headers), lease.spec
        holder = spec.holder_identity or "unknown holder"
        if spec.renew_time is None:
            raise _Problem(f"the Lease {where} has never been renewed: is it Kinetic's?")
        age = (now - spec.renew_time.astimezone(UTC)).total_seconds()
        limit = spec.lease_duration_seconds or LEASE_SECONDS
        if age > limit:
            raise _Problem(
                f"the operator is not running: its heartbeat (Lease {where}) was last renewed "
                f"{_ago(age)} ago by {holder}, and it renews every 15 s. Look at it: kubectl "
                f"-n {operator_ns} get pods; kubectl -n {operator_ns} logs deployment/"
                "kinetic-operator (for a release named kinetic)"
            )
        served = (lease.metadata.annotations or {}).get(ANNOTATION_SERVED_NAMESPACES)
        listed = [n for n in (served or "").split(",") if n]
        if served and served != "*" and namespace not in listed:
            raise _Problem(
                f"the operator ({holder}) is alive but does not serve namespace {namespace}: "
                f"it serves {', '.join(listed)}. Run jobs in one of those, or add {namespace} "
                "to the chart's watchNamespaces (helm upgrade)"
            )
        scope = {"*": "every namespace", None: "namespaces unknown"}.get(served, served)
        return f"alive: {holder} renewed Lease {where} {_ago(age)} ago (serves {scope})"

    checks.append(_run_check("CRD", crd))
    checks.append(_run_check("operator", operator))

    def allowed(verb: str, resource: str, api_group: str) -> bool:
        resource, _, subresource = resource.partition("/")
        attributes = {"namespace": namespace, "verb": verb, "group": api_group}
        attributes |= {"resource": resource, "subresource": subresource or None}
        # The client serializes dict bodies as they are (its annotations say the V1 model
        # only), and the API server always fills in a review's status (the model says
        # Optional, as for every field).
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {"spec": {"resourceAttributes": {k: v for k, v in attributes.items() if v}}},  # type: ignore[arg-type]
            _request_timeout=REQUEST_TIMEOUT,
        )
        return bool(review.status.allowed)  # type: ignore[union-attr]

    def access(rules: list[tuple[str, str, tuple[str, ...]]]) -> str:
        granted: list[str] = []
        denied: list[str] = []
        for api_group, resource, verbs in rules:  # e.g. "create, delete kineticjobs"
            answers = [(verb, allowed(verb, resource, api_group)) for verb in verbs]
            if yes := [verb for verb, ok in answers if ok]:
                granted.append(f"{', '.join(yes)} {resource}")
            if no := [verb for verb, ok in answers if not ok]:
                denied.append(f"{', '.join(no)} {resource}")
        if denied:
            raise _Problem(
                f"you may not {'; '.join(denied)} in namespace {namespace}. Bind the chart's "
                f"kinetic-user ClusterRole there: kubectl create rolebinding kinetic-user "
                f"-n {namespace} --clusterrole=kinetic-user --user=YOU (or "
                "--serviceaccount=NAMESPACE:NAME); the built-in edit and admin roles include it"
            )
        return f"you may {'; '.join(granted)} in namespace {namespace}"

    for name, rules in ACCESS.items():
        resolved = [(group if g is None else g, resource, verbs) for g, resource, verbs in rules]
        checks.append(_run_check(name, functools.partial(access, resolved)))
    return checks
