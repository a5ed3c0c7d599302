"""What the local backend cannot honour, checked before anything is created.

Called by ``LocalBackend.check``: options that only a cluster can give (``cpu`` and
``ephemeral_storage`` limits, runtimes, volumes, networks), CPU pinning this machine cannot
do, and ports something here already holds. Each refusal is (option, value, what to use
instead), so the SpecError names the value and what would be accepted.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from kinetic.model.spec_record import SpecRecord
from kinetic.spec.ports import Port
from kinetic.spec.resources import parse_cpu_cores


def resource_refusals(spec: SpecRecord) -> list[tuple[str, object, str]]:
    """Options the local backend cannot honour: (option, value, what to do instead)."""
    refused: list[tuple[str, object, str]] = []
    if spec.get("cpu"):
        instead = "cpu_cores='0-1' to pin the job locally, or backend='kubernetes'"
        refused.append(("cpu", spec["cpu"], instead))
    if spec.get("ephemeral_storage"):
        instead = "backend='kubernetes' (the local backend cannot limit disk use)"
        refused.append(("ephemeral_storage", spec["ephemeral_storage"], instead))
    cores = spec.get("cpu_cores")
    if cores and not hasattr(os, "sched_setaffinity"):
        refused.append(("cpu_cores", cores, "Linux (this platform cannot pin processes)"))
    elif cores and (missing := parse_cpu_cores(cores) - os.sched_getaffinity(0)):
        have = sorted(os.sched_getaffinity(0))
        refused.append(("cpu_cores", cores, f"cores this machine has ({have}), not {missing}"))
    return refused


def placement_refusals(spec: SpecRecord) -> list[tuple[str, object, str]]:
    """What the local backend cannot honour: (option, value, what to use instead)."""
    why = {
        "runtime": "runtimes are images in the cluster operator's runtime table",
        "volumes": "volumes are PersistentVolumeClaims and pod scratch space",
        "network": "networks are groups of pods isolated by a NetworkPolicy",
        "queue": "queues are Kueue LocalQueues in the job's namespace",
        "priority_class": "priority classes are Kueue WorkloadPriorityClasses",
    }
    given: Mapping[str, object] = spec  # looked up by the names above
    return [
        (option, given[option], f"backend='kubernetes' ({reason})")
        for option, reason in why.items()
        if spec.get(option)
    ]


def ports_in_use(ports: tuple[Port, ...]) -> list[Port]:
    """Those of ``ports`` that something on this machine holds already (bind test)."""
    taken = []
    for p in ports:
        kind = socket.SOCK_DGRAM if p.proto == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            # The job will bind the port too: SO_REUSEADDR as servers set it, so a port
            # left in TIME_WAIT by an earlier job is not reported as taken.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", p.port))
            except OSError:
                taken.append(p)
    return taken
