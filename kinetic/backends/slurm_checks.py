"""What the SLURM backend cannot honour, checked before anything is created.

Backends layer, caller's side: called by ``SlurmBackend.check`` with the resolved spec.
SLURM runs a job as a process on a compute node, in the caller's Python: there are no
ports to publish, no images, runtimes, Kubernetes volumes or networks, no TPUs, and CPUs
are SLURM's to place. Each refusal is (option, value, why), for SpecError.
"""

from __future__ import annotations

from collections.abc import Mapping

from kinetic.model.spec_record import SpecRecord
from kinetic.spec.accelerators import parse_accelerator

_KUBERNETES_ONLY = {
    "runtime": "runtimes are images in the Kubernetes operator's runtime table",
    "volumes": "volumes are Kubernetes PersistentVolumeClaims and pod scratch space",
    "network": "networks are groups of Kubernetes pods isolated by a NetworkPolicy",
    "queue": "queues are Kueue LocalQueues (SLURM's own queue is partition=)",
    "priority_class": "priority classes are Kueue WorkloadPriorityClasses (slurm: qos)",
}


def slurm_refusals(spec: SpecRecord) -> list[tuple[str, object, str]]:
    """(option, value, accepted) for every option of ``spec`` SLURM cannot honour."""
    given: Mapping[str, object] = spec  # looked up by the names below
    refused = [
        (option, given[option], f"backend='kubernetes' ({why})")
        for option, why in _KUBERNETES_ONLY.items()
        if spec.get(option)
    ]
    if spec.get("ssh"):
        refused.append(("ssh", True, "False (use SLURM's srun --jobid=… --pty to reach a job)"))
    if spec.get("ports"):
        ports = ", ".join(f"{p['name']}:{p['port']}" for p in spec["ports"])
        refused.append(("ports", ports, "no ports: a SLURM job's ports are not published"))
    if spec.get("cpu_cores"):
        refused.append(("cpu_cores", spec["cpu_cores"], "cpu=N (SLURM places the CPUs)"))
    if parse_accelerator(spec.get("accelerator") or "cpu").kind == "tpu":
        refused.append(("accelerator", spec["accelerator"], "cpu or a GPU on SLURM"))
    return refused
