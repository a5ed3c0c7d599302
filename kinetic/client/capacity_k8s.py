"""``kinetic cluster`` on Kubernetes: per accelerator type and node pool, the nodes, what
they can allocate (CPU, memory, GPUs, TPUs), what running pods request of it, what is
free, and how many Kinetic jobs are pending for that accelerator.

Three reads (nodes, the pods not finished, the KineticJobs), then ``summarize`` (pure).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kinetic.model.errors import BackendError
from kinetic.model.status import JobStatus
from kinetic.spec.accelerators import LabelMap, parse_accelerator
from kinetic.spec.job_spec import JobSpec

POOL_LABELS = (
    "cloud.google.com/gke-nodepool",
    "karpenter.sh/nodepool",
    "eks.amazonaws.com/nodegroup",
    "node.kubernetes.io/instance-type",
)
RESOURCES = {"cpu": "cpu", "memory": "memory_bytes", "nvidia.com/gpu": "gpu",
             "google.com/tpu": "tpu"}  # fmt: skip


def quantity(text: object) -> Decimal:
    """A Kubernetes quantity ("500m", "16Gi", "2") as a number."""
    from kubernetes.utils.quantity import parse_quantity

    try:
        return Decimal(parse_quantity(str(text)))
    except (ValueError, ArithmeticError):
        return Decimal(0)


def group_of(labels: dict[str, str], label_map: LabelMap) -> tuple[str, str]:
    """(accelerator type, node pool) of a node from its labels (pure)."""
    accelerator = "cpu"
    for key in (label_map.gpu_label, label_map.tpu_accelerator_label):
        if key and labels.get(key):
            accelerator = labels[key]
            break
    pool = next((labels[k] for k in POOL_LABELS if labels.get(k)), "-")
    return accelerator, pool


def _amounts(resources: dict[str, Any] | None) -> dict[str, Decimal]:
    return {name: quantity((resources or {}).get(key, 0)) for key, name in RESOURCES.items()}


def _number(value: Decimal, name: str) -> float | int:
    return int(value) if name in ("memory_bytes", "gpu", "tpu") else round(float(value), 3)


def summarize(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    pending_accelerators: list[str],
    label_map: LabelMap | None = None,
) -> list[dict[str, Any]]:
    """The capacity table (pure): raw Node and Pod bodies, and the accelerator name of each
    pending Kinetic job ("cpu" for none)."""
    label_map = label_map or LabelMap()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    node_group: dict[str, tuple[str, str]] = {}
    for node in nodes:
        meta, status = node.get("metadata", {}), node.get("status", {})
        key = group_of(meta.get("labels") or {}, label_map)
        node_group[meta.get("name", "")] = key
        empty = {"allocatable": _amounts(None), "requested": _amounts(None)}
        group = groups.setdefault(key, {"nodes": 0, "ready": 0, **empty})
        group["nodes"] += 1
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])  # fmt: skip
        group["ready"] += int(ready)
        for name, amount in _amounts(status.get("allocatable")).items():
            group["allocatable"][name] += amount
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node_name not in node_group or phase in ("Succeeded", "Failed"):
            continue
        group = groups[node_group[node_name]]
        for container in (pod.get("spec") or {}).get("containers") or []:
            for name, amount in _amounts(
                (container.get("resources") or {}).get("requests")
            ).items():
                group["requested"][name] += amount
    pending: dict[str, int] = {}
    for name in pending_accelerators:
        pending[name] = pending.get(name, 0) + 1
    table = []
    for (accelerator, pool), group in sorted(groups.items()):
        alloc, used = group["allocatable"], group["requested"]
        table.append({
            "accelerator": accelerator,
            "pool": pool,
            "nodes": group["nodes"],
            "ready": group["ready"],
            "allocatable": {n: _number(v, n) for n, v in alloc.items()},
            "requested": {n: _number(v, n) for n, v in used.items()},
            "free": {n: _number(max(Decimal(0), alloc[n] - used[n]), n) for n in alloc},
            "pending_jobs": pending.pop(accelerator, 0),
        })  # fmt: skip
    for accelerator, count in sorted(pending.items()):  # asked for, but no node has it
        nothing: dict[str, Any] = {"allocatable": {}, "requested": {}, "free": {}}
        table.append({"accelerator": accelerator, "pool": "(no node)", "nodes": 0, "ready": 0,
                      **nothing, "pending_jobs": count})  # fmt: skip
    return table


def cluster_capacity() -> dict[str, Any]:
    """The cluster's capacity, as ``kinetic cluster -o json`` prints it."""
    from kubernetes import client

    from kinetic.backends import get_backend
    from kinetic.backends.k8s_client import api_client
    from kinetic.spec import settings

    backend = get_backend("kubernetes")
    api = client.CoreV1Api(api_client(settings.resolve("kubeconfig").value,
                                      settings.resolve("context").value))  # fmt: skip
    try:
        # As plain JSON bodies (camelCase keys), the form summarize() reads.
        as_json = api.api_client.sanitize_for_serialization
        nodes = as_json(api.list_node())["items"]
        unfinished = "status.phase!=Succeeded,status.phase!=Failed"
        pods = as_json(api.list_pod_for_all_namespaces(field_selector=unfinished))["items"]
    except Exception as exc:
        raise BackendError(f"cannot read the cluster's nodes and pods: {exc}") from None
    # The raw KineticJobs: their spec names the accelerator (a listed record does not).
    from kinetic.backends.kubernetes import state_from_cr
    from kinetic.model.job_record import JobRecord

    probe = JobRecord("probe", "kubernetes", "", "", "", extra=backend.handle_fields(JobSpec()))
    kjs = backend.list_kineticjobs(probe, None)  # type: ignore[attr-defined]
    pending = [_accelerator_name(kj.get("spec") or {}) for kj in kjs
               if state_from_cr(kj).status == JobStatus.PENDING]  # fmt: skip
    return {"backend": "kubernetes", "groups": summarize(nodes, pods, pending)}


def _accelerator_name(spec: dict[str, Any]) -> str:
    value = spec.get("accelerator") or "cpu"
    try:
        if isinstance(value, dict):
            return parse_accelerator(str(value.get("spec", "cpu"))).name
        return parse_accelerator(str(value)).name
    except ValueError:
        return str(value)
