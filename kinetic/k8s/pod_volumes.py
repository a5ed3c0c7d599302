"""A job's volumes and network as Kubernetes objects: the KineticJob's fields (from the
JobSpec, see kinetic.spec.placement) and the pod's volumes, mounts, label and NetworkPolicy."""

from __future__ import annotations

from typing import Any

from kinetic.k8s.names import LABEL_MANAGED_BY, LABEL_NETWORK, MANAGED_BY


def cr_volumes(volumes: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The KineticJob's ``spec.volumes`` from a JobSpec's normalised volumes."""
    out = []
    for v in volumes or []:
        item: dict[str, Any] = {"name": v["name"], "type": v["type"], "mountPath": v["path"]}
        if v["type"] == "claim":
            item.update(claim=v["claim"], readOnly=bool(v.get("read_only")))
        else:
            item["sizeLimit"] = v["size"]
        out.append(item)
    return out


def pod_volumes(
    cr: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container volumeMounts) for the KineticJob's ``spec.volumes``."""
    volumes, mounts = [], []
    for v in cr:
        mount: dict[str, Any] = {"name": v["name"], "mountPath": v["mountPath"]}
        if v["type"] == "claim":
            claim = {"claimName": v["claim"]}
            if v.get("readOnly"):
                claim["readOnly"] = True
                mount["readOnly"] = True
            volumes.append({"name": v["name"], "persistentVolumeClaim": claim})
        elif v["type"] == "memory":
            # tmpfs on the node, counted against the pod's memory; sizeLimit caps it.
            empty = {"medium": "Memory", "sizeLimit": v["sizeLimit"]}
            volumes.append({"name": v["name"], "emptyDir": empty})
        else:
            raise ValueError(f"volume {v['name']}: unknown type {v['type']!r}")
        mounts.append(mount)
    return volumes, mounts


def network_policy_name(network: str) -> str:
    return f"kinetic-network-{network}"


def build_network_policy(namespace: str, network: str) -> dict[str, Any]:
    """The NetworkPolicy of a job network: its pods accept traffic only from each other.

    Ingress only. Egress stays open because a job's runner must reach its store (a GCS
    bucket) and a job may fetch data or packages. Shared by every job of
    the network in this namespace, so no job owns it: it outlives them (and, selecting no
    pods then, does nothing).
    """
    members = {"matchLabels": {LABEL_NETWORK: network}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": network_policy_name(network),
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_NETWORK: network},
        },
        "spec": {
            "podSelector": members,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": members}]}],
        },
    }
