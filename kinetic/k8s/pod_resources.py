"""The container's ``resources`` (requests and limits) from a job's validated options."""

from __future__ import annotations

from kinetic.model.spec_record import SpecRecord
from kinetic.spec.resources import RESOURCE_OPTIONS


def k8s_resources(spec: SpecRecord) -> dict[str, dict[str, str]]:
    """The container's ``resources`` (requests/limits) from a stored JobSpec."""
    given = {
        "cpu": spec.get("cpu"),
        "memory": spec.get("memory"),
        "ephemeral_storage": spec.get("ephemeral_storage"),
    }
    out: dict[str, dict[str, str]] = {}
    for option, name in RESOURCE_OPTIONS.items():
        for kind, key in (("request", "requests"), ("limit", "limits")):
            if quantity := (given[option] or {}).get(kind):
                out.setdefault(key, {})[name] = quantity
    return out
