"""The Service the operator makes for a job with ports, owned by its KineticJob."""

from __future__ import annotations

import re
from typing import Any

from kinetic.k8s.kineticjob_body import KineticJob
from kinetic.k8s.names import LABEL_JOB_ID, SELECTOR
from kinetic.model.spec_record import PortRecord

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def service_name(job_id: str) -> str:
    """The job id, which Service names (DNS-1035: a letter first) allow unless it starts
    with a digit; then ``j-<id>``."""
    return job_id if _DNS_1035.match(job_id) else f"j-{job_id}"


def protocol(proto: str) -> str:
    """A Kinetic port protocol as Kubernetes names it (http is TCP)."""
    return "UDP" if proto == "udp" else "TCP"


def container_ports(ports: list[PortRecord]) -> list[dict[str, Any]]:
    return [
        {"name": p["name"], "containerPort": int(p["port"]), "protocol": protocol(p["proto"])}
        for p in ports
    ]


def build_service(kj: KineticJob, owner: dict[str, Any]) -> dict[str, Any]:
    """A ClusterIP Service selecting the job's pods, one port per job port, by name."""
    job_id = kj["metadata"]["name"]
    ports = []
    for p in kj["spec"].get("ports") or []:
        port = {
            "name": p["name"],
            "port": int(p["port"]),
            "targetPort": p["name"],
            "protocol": protocol(p["proto"]),
        }
        if p["proto"] == "http":
            port["appProtocol"] = "http"  # GA since 1.20 (feature ServiceAppProtocol)
        ports.append(port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(job_id),
            "namespace": kj["metadata"].get("namespace"),
            "labels": {**SELECTOR, LABEL_JOB_ID: job_id},
            "ownerReferences": [owner],
        },
        "spec": {"type": "ClusterIP", "selector": {LABEL_JOB_ID: job_id}, "ports": ports},
    }
