"""Where a job's port is reachable, as backends report it (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """Where a job's port is reachable: ``host:port`` (and a URL for http ports).

    On Kubernetes ``host`` is the Service's DNS name, reachable inside the cluster, and
    ``cluster_ip`` its address once the Service exists; from a laptop, use
    ``kinetic jobs port-forward``. Locally ``host`` is this machine.
    """

    host: str
    port: int
    proto: str
    cluster_ip: str | None = None

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}" if self.proto == "http" else None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        data = {"host": self.host, "port": self.port, "proto": self.proto, "url": self.url}
        if self.cluster_ip:
            data["cluster_ip"] = self.cluster_ip
        return data
