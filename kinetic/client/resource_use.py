"""A job's resource use, wherever it is known: what its runner recorded in the final state
(local: peak memory and CPU time), or for a running job on Kubernetes what the cluster's
metrics API (metrics.k8s.io, served by metrics-server) measures now. A cluster that does
not serve it gives nothing, and no error.

Used by ``kinetic jobs status`` and the dashboard's job page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kinetic.k8s.names import LABEL_JOB_ID
from kinetic.model.status import JobState, JobStatus

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle

METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


def resource_use(handle: JobHandle, state: JobState) -> dict[str, Any] | None:
    """``{"peak_memory_bytes", "cpu_seconds"}`` as recorded, or ``{"memory_bytes",
    "cpu_cores", "source"}`` measured now on Kubernetes; None when neither is known."""
    recorded = state.extra.get("resources")
    if isinstance(recorded, dict) and recorded:
        return recorded
    if handle.backend == "kubernetes" and state.status == JobStatus.RUNNING:
        return pod_metrics(handle)
    return None


def sum_usage(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """PodMetrics items → the job's memory (bytes) and CPU (cores) now (pure)."""
    from kinetic.client.capacity_k8s import quantity

    if not items:
        return None
    memory, cpu = 0, 0.0
    for item in items:
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            memory += int(quantity(usage.get("memory", 0)))
            cpu += float(quantity(usage.get("cpu", 0)))
    return {"memory_bytes": memory, "cpu_cores": round(cpu, 3), "source": METRICS_GROUP}


def pod_metrics(handle: JobHandle) -> dict[str, Any] | None:
    """The job's pods' use from metrics.k8s.io; None if the API is not served or refuses."""
    from kubernetes import client

    from kinetic.backends.k8s_client import api_client
    from kinetic.spec import settings

    extra = handle.extra or {}
    kubeconfig = extra.get("kubeconfig") or settings.resolve("kubeconfig").value
    context = extra.get("context") or settings.resolve("context").value
    namespace = extra.get("namespace") or settings.resolve("namespace").value or "default"
    try:
        api = client.CustomObjectsApi(api_client(kubeconfig, context))
        found: Any = api.list_namespaced_custom_object(
            METRICS_GROUP, METRICS_VERSION, namespace, "pods",
            label_selector=f"{LABEL_JOB_ID}={handle.job_id}", _request_timeout=10,
        )  # fmt: skip
    except Exception:  # not served (404), not allowed (403), unreachable: nothing to show
        return None
    return sum_usage(found.get("items") or [])


def usage_text(usage: dict[str, Any] | None) -> str:
    """One line for a person (pure): recorded peak and CPU time, or measured use now."""
    if not usage:
        return ""
    parts = []
    if isinstance(usage.get("peak_memory_bytes"), int):
        parts.append(f"peak memory {usage['peak_memory_bytes'] / 2**20:.0f} MiB")
    if isinstance(usage.get("cpu_seconds"), int | float):
        parts.append(f"CPU time {usage['cpu_seconds']:.1f}s")
    if isinstance(usage.get("memory_bytes"), int):
        parts.append(f"memory now {usage['memory_bytes'] / 2**20:.0f} MiB")
    if isinstance(usage.get("cpu_cores"), int | float):
        parts.append(f"CPU now {usage['cpu_cores']:.2f} cores")
    return ", ".join(parts)
