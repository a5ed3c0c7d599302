"""Backends run jobs: ``local`` (detached processes here) and ``kubernetes``."""

from __future__ import annotations

import functools

from ..errors import SpecError
from .base import Backend

__all__ = ["Backend", "get_backend"]


@functools.cache
def get_backend(name: str) -> Backend:
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    if name == "kubernetes":
        from .kubernetes import KubernetesBackend

        return KubernetesBackend()
    raise SpecError("backend", name, "one of local, kubernetes")
