"""Backends run jobs: ``local`` (detached processes here), ``kubernetes`` and ``slurm``."""

from __future__ import annotations

import functools

from kinetic.backends.backend_contract import Backend
from kinetic.model.errors import SpecError

__all__ = ["Backend", "get_backend"]


@functools.cache
def get_backend(name: str) -> Backend:
    if name == "local":
        from kinetic.backends.local import LocalBackend

        return LocalBackend()
    if name == "kubernetes":
        from kinetic.backends.kubernetes import KubernetesBackend

        return KubernetesBackend()
    if name == "slurm":
        from kinetic.backends.slurm import SlurmBackend

        return SlurmBackend()
    raise SpecError("backend", name, "one of local, kubernetes, slurm")
