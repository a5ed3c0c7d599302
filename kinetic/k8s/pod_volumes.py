"""A job's volumes and network as Kubernetes objects: the KineticJob's fields (from the
JobSpec, see kinetic.spec.placement) and the pod's volumes, mounts, label and NetworkPolicy;
also the node-local environment cache the chart may give every job (``envCache``)."""

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


ENV_CACHE_VOLUME = "kinetic-env-cache"
ENV_CACHE_VAR = "KINETIC_ENV_CACHE"  # read by kinetic.system.env_cache in the job


def env_cache_volume(
    host_path: str, job_env: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(pod volume, container mount, env entries) of the node-local environment cache: the
    node's ``host_path``, at the same path in the pod, so an environment keeps the path it
    was built or unpacked at for every later pod of the node. A job whose own ``env`` names
    a cache keeps it (the cache still mounted, unused)."""
    volume = {"name": ENV_CACHE_VOLUME,
              "hostPath": {"path": host_path, "type": "DirectoryOrCreate"}}  # fmt: skip
    mount = {"name": ENV_CACHE_VOLUME, "mountPath": host_path}
    own = any(e.get("name") == ENV_CACHE_VAR for e in job_env)
    return volume, mount, [] if own else [{"name": ENV_CACHE_VAR, "value": host_path}]


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
