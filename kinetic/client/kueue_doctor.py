"""``kinetic doctor``'s Kueue checks: is Kueue installed, and does the job's queue exist.

Where it sits: ``kinetic doctor`` (cli/admin_commands.py) runs these after the cluster
checks (client/doctor.py) for the kubernetes backend. Both only read: the API discovery
document (which every authenticated user may read) says whether Kueue's API group is
served; a GET of the LocalQueue in the namespace (the chart's user role allows
``get, list localqueues``) says whether the queue exists. A job with ``queue=`` whose
queue is missing, or on a cluster without Kueue, stays PENDING ``Queued`` (its Job
suspended) until someone fixes that: doctor is where it is said.
"""

from __future__ import annotations

from typing import Any

from kinetic.client.doctor import REQUEST_TIMEOUT, Check, _Problem, _run_check
from kinetic.k8s.kueue import KUEUE_GROUP, LOCALQUEUE_PLURAL

KUEUE_HINT = "install Kueue (https://kueue.sigs.k8s.io/docs/installation/)"


def check_kueue(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    queue: str | None = None,
    *,
    group: str = KUEUE_GROUP,
) -> list[Check]:
    """[Kueue installed?] and, with ``queue``, [the LocalQueue exists in ``namespace``?].
    Without a queue, a cluster without Kueue is fine (only ``queue=`` jobs need it) and
    the namespace's LocalQueues are listed. ``group`` overrides Kueue's API group (tests)."""
    from kubernetes import client

    from kinetic.backends.k8s_client import api_client, default_namespace
    from kinetic.spec import settings

    kubeconfig = settings.resolve("kubeconfig", kubeconfig).value
    context = settings.resolve("context", context).value
    namespace = settings.resolve("namespace", namespace).value or default_namespace(
        kubeconfig, context
    )
    api = api_client(kubeconfig, context)
    version: list[str] = []

    def installed() -> str:
        groups = client.ApisApi(api).get_api_versions(_request_timeout=REQUEST_TIMEOUT)
        found = next((g for g in groups.groups or [] if g.name == group), None)
        if found is None:
            if queue:
                raise _Problem(
                    f"Kueue is not installed (API group {group} is not served): jobs with "
                    f"queue={queue} would wait as Queued forever; {KUEUE_HINT}"
                )
            return f"not installed (API group {group} not served): only queue= jobs need it"
        preferred = found.preferred_version or next(iter(found.versions or []), None)
        version.append(preferred.version if preferred else "v1beta1")
        return f"installed: {group}/{version[0]} is served"

    checks = [_run_check("Kueue", installed)]
    if not version:
        if queue:
            checks.append(Check("Kueue queue", False, "skipped: Kueue is not installed"))
        return checks

    def local_queue() -> str:
        custom = client.CustomObjectsApi(api)
        if not queue:
            found: Any = custom.list_namespaced_custom_object(
                group, version[0], namespace, LOCALQUEUE_PLURAL, _request_timeout=REQUEST_TIMEOUT
            )
            names = sorted(q["metadata"]["name"] for q in found.get("items") or [])
            listed = ", ".join(names) if names else "none"
            return f"LocalQueues in namespace {namespace}: {listed} (queue= takes one)"
        try:
            found = custom.get_namespaced_custom_object(
                group, version[0], namespace, LOCALQUEUE_PLURAL, queue,
                _request_timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                raise _Problem(
                    f"there is no LocalQueue {queue} in namespace {namespace}: jobs with "
                    f"queue={queue} would wait as Queued forever. Ask the cluster's admins "
                    f"for one (kubectl get localqueues -n {namespace})"
                ) from None
            raise
        cluster_queue = (found.get("spec") or {}).get("clusterQueue") or "?"
        return f"LocalQueue {queue} exists in namespace {namespace} (ClusterQueue {cluster_queue})"

    checks.append(_run_check("Kueue queue", local_queue))
    return checks
