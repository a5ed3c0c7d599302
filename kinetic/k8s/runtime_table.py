"""The cluster's runtime table: named job images, configured in the Helm chart.

One source of truth: the chart renders its ``runtimes`` value into the ConfigMap
``kinetic-runtimes`` (key ``runtimes.json``) in the namespace the operator runs in. The
operator reads it when it creates a job's Job, so a changed table applies to the next jobs
at once, and refuses a runtime it does not list (reason ``UnknownRuntime``). Clients read
the same ConfigMap to check ``runtime=`` at submission and for ``kinetic runtimes list``.

The value maps a name to an image, or to ``{"image": …, "description": …, "python": …}``;
``python`` ("3.11") lets a client whose Python differs refuse before submitting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kinetic.spec.placement import RUNTIME_NAME

CONFIGMAP = "kinetic-runtimes"
KEY = "runtimes.json"


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str
    description: str = ""
    python: str = ""  # "3.11": the image's Python, so a client on another refuses early

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "image": self.image, "description": self.description,
                "python": self.python}  # fmt: skip


@dataclass(frozen=True)
class RuntimeTable:
    """The table as read from the cluster; ``problem`` says why it could not be used."""

    source: str  # "ConfigMap NS/kinetic-runtimes", for messages
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    problem: str | None = None

    def image_of(self, name: str) -> str | None:
        found = self.runtimes.get(name)
        return found.image if found else None

    def refusal(self, name: str) -> str | None:
        """Why ``runtime=name`` cannot run with this table (None: it can)."""
        if self.problem:
            return f"runtime {name!r}: {self.problem}"
        if name in self.runtimes:
            return None
        known = ", ".join(sorted(self.runtimes)) or "none (set the chart value runtimes)"
        return (
            f"runtime {name!r} is not in the cluster's runtime table ({self.source}); "
            f"known: {known}"
        )


def parse_table(text: str | None) -> dict[str, Runtime]:
    """The runtimes of the ConfigMap's ``runtimes.json``; ValueError when it is malformed."""
    data = json.loads(text) if text and text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{KEY} must hold a JSON object of name -> image, not {type(data).__name__}"
        )
    table = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not RUNTIME_NAME.match(name):
            raise ValueError(f"runtime name {name!r} is not valid")
        entry = {"image": entry} if isinstance(entry, str) else entry
        if (
            not isinstance(entry, dict)
            or set(entry) - {"image", "description", "python"}
            or not isinstance(entry.get("image"), str)
            or not entry["image"].strip()
            or not isinstance(entry.get("description", ""), str)
            or not isinstance(entry.get("python", ""), str)
        ):
            raise ValueError(
                f"runtime {name!r}: an image, or {{image, description, python}}, not {entry!r}"
            )
        table[name] = Runtime(
            name, entry["image"].strip(), entry.get("description", ""), entry.get("python", "")
        )
    return table


def fetch_table(api: Any, namespace: str) -> RuntimeTable:
    """Read the table with a ``kubernetes`` ApiClient. A missing ConfigMap is an empty
    table; other API errors (403: no RBAC to read it) are raised for the caller to judge."""
    from kubernetes import client

    source = f"ConfigMap {namespace}/{CONFIGMAP}"
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(CONFIGMAP, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return RuntimeTable(source, problem=f"there is no {source} (is the chart installed?)")
        raise
    try:
        return RuntimeTable(source, parse_table((cm.data or {}).get(KEY)))
    except ValueError as exc:
        return RuntimeTable(source, problem=f"{source} is malformed: {exc}")
