"""The runner → operator termination-message contract (one JSON object, ≤ 4 KiB).

The runner writes it to the container's termination-message path when it ends::

    {"result": {"uri": "gs://…/result.pkl", "size": 123, "sha256": "<64 hex>"},
     "reason": "UserError", "exception_type": "ValueError", "message": "bad input"}

Every key is optional. ``result`` is the result envelope in the store; ``reason`` the
runner's failure reason; ``exception_type`` names the function's exception; ``message`` is
short text; ``resources`` what the job used (``{"peak_memory_bytes": int, "cpu_seconds":
number, "peak_memory_of": "container"|"worker"}``, kinetic.job.container_use), which the
operator puts in the KineticJob's status. Anything that is not such an object (e.g. a log tail from
``FallbackToLogsOnError``) is plain text. A ``result`` without a string ``uri``, an int
``size`` and a hex ``sha256`` is dropped, because the client checks the result against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TERMINATION_MESSAGE_LIMIT = 4096  # the kubelet's limit for one container
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPORT_KEYS = ("result", "reason", "exception_type", "message")
_RESOURCE_KEYS = {"peak_memory_bytes": int, "cpu_seconds": float, "peak_memory_of": str}


@dataclass(frozen=True)
class RunnerReport:
    """The runner's termination message, parsed (see the module docstring)."""

    result: dict[str, Any] | None = None
    reason: str | None = None
    exception_type: str | None = None
    message: str | None = None
    resources: dict[str, Any] | None = None


def parse_termination_message(text: str | None) -> tuple[RunnerReport | None, str | None]:
    """(report, None) for the runner's JSON; (None, text) for anything else."""
    if not text or not text.strip():
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not set(_REPORT_KEYS) & data.keys():
        return None, text.strip()
    fields = {k: v for k in _REPORT_KEYS[1:] if isinstance(v := data.get(k), str) and v}
    resources = valid_resources(data.get("resources"))
    return RunnerReport(result=valid_result(data.get("result")), resources=resources,
                        **fields), None  # fmt: skip


def format_termination_message(
    result: Mapping[str, Any] | None = None,
    reason: str | None = None,
    exception_type: str | None = None,
    message: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> str:
    """The runner's side of the contract: JSON that always fits the kubelet's 4 KiB."""
    data: dict[str, Any] = {"result": dict(result) if result else None, "reason": reason}
    data.update(exception_type=exception_type, message=message)
    if kept := valid_resources(resources):
        data["resources"] = kept
    text = json.dumps(data)
    while (excess := len(text.encode()) - TERMINATION_MESSAGE_LIMIT) > 0 and data["message"]:
        data["message"] = data["message"][: max(0, len(data["message"]) - excess - 1)] + "…"
        text = json.dumps(data)
    return text


def valid_result(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    uri, size, sha = value.get("uri"), value.get("size"), value.get("sha256")
    if not (isinstance(uri, str) and uri and type(size) is int and isinstance(sha, str)):
        return None
    return {"uri": uri, "size": size, "sha256": sha.lower()} if _SHA256.match(sha.lower()) else None


def valid_resources(value: Any) -> dict[str, Any] | None:
    """The known keys of a ``resources`` report with values of their type (pure); a number
    of the wrong kind (a bool, a string) is dropped rather than trusted."""
    if not isinstance(value, Mapping):
        return None
    kept: dict[str, Any] = {}
    for key, kind in _RESOURCE_KEYS.items():
        item = value.get(key)
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            continue  # True is an int to Python, not a count of bytes
        if kind is int and isinstance(item, int) and item >= 0:
            kept[key] = item
        elif kind is float and isinstance(item, int | float) and item >= 0:
            kept[key] = float(item)
        elif kind is str and isinstance(item, str) and item:
            kept[key] = item[:40]
    return kept or None
