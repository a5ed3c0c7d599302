"""The container's ``resources`` (requests and limits) from a job's validated options."""

from __future__ import annotations

from typing import Any

from kinetic.spec.resources import RESOURCE_OPTIONS


def k8s_resources(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The container's ``resources`` (requests/limits) from a JobSpec dict."""
    out: dict[str, dict[str, str]] = {}
    for option, name in RESOURCE_OPTIONS.items():
        for kind, key in (("request", "requests"), ("limit", "limits")):
            if (spec.get(option) or {}).get(kind):
                out.setdefault(key, {})[name] = spec[option][kind]
    return out
