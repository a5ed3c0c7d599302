"""Job resources: Kubernetes quantities validated once, and how the local runner honours them.

``cpu``, ``memory`` and ``ephemeral_storage`` take a quantity (``"2"``, ``"500m"``,
``"4Gi"``) meaning request = limit, or ``{"request": …, "limit": …}``. On Kubernetes they
become the container's resources. Locally, ``memory`` is enforced by the runner (the job is
killed when its processes' resident memory passes the limit: reason ``OOMKilled``, as the
kernel's OOM killer would on a node) and ``cpu_cores="0-1"`` pins the job to those cores;
``cpu`` and ``ephemeral_storage`` cannot be honoured locally and are refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import SpecError

_QUANTITY = re.compile(
    r"^(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[mkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10**3), "M": Decimal(10**6),
            "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}  # fmt: skip
ACCEPTED = "a Kubernetes quantity such as 2, 500m, 512Mi or 4Gi, or {'request': …, 'limit': …}"
RESOURCE_OPTIONS = {"cpu": "cpu", "memory": "memory", "ephemeral_storage": "ephemeral-storage"}


def quantity_value(text: str) -> Decimal:
    """The numeric value of a quantity ("4Gi" -> 4294967296, "500m" -> 0.5)."""
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(text)
    number, suffix = Decimal(m["num"]), m["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _DECIMAL[suffix]


def _check_quantity(option: str, value: object) -> str:
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise SpecError(option, value, ACCEPTED)
    try:
        amount = quantity_value(text.strip())
    except (ValueError, InvalidOperation):
        raise SpecError(option, value, ACCEPTED) from None
    if amount <= 0:
        raise SpecError(option, value, "a quantity greater than zero")
    if option != "cpu" and amount < 1:
        raise SpecError(option, value, "at least one byte (did you mean Mi or M, not m?)")
    return text.strip()


def check_resource(option: str, value: object) -> dict[str, str] | None:
    """{"request": q, "limit": q} from a quantity or a dict; None when unset."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"request", "limit"}
        if unknown or not value:
            raise SpecError(option, value, ACCEPTED)
        checked = {k: _check_quantity(option, v) for k, v in value.items()}
        if (
            "request" in checked
            and "limit" in checked
            and quantity_value(checked["request"]) > quantity_value(checked["limit"])
        ):
            raise SpecError(option, value, "a request no larger than the limit")
        return checked
    quantity = _check_quantity(option, value)
    return {"request": quantity, "limit": quantity}


def check_cpu_cores(value: object) -> str | None:
    """``"0-1"``, ``"0,2,4-5"``: a CPU list as taskset takes it."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise SpecError("cpu_cores", value, "a CPU list such as '0-1' or '0,2,4-5'")
    return value


def parse_cpu_cores(value: str) -> set[int]:
    cores: set[int] = set()
    for part in value.split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


def k8s_resources(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The container's ``resources`` (requests/limits) from a JobSpec dict."""
    out: dict[str, dict[str, str]] = {}
    for option, name in RESOURCE_OPTIONS.items():
        for kind, key in (("request", "requests"), ("limit", "limits")):
            if (spec.get(option) or {}).get(kind):
                out.setdefault(key, {})[name] = spec[option][kind]
    return out


# -- local enforcement -----------------------------------------------------------------------
def memory_limit_bytes(spec: dict[str, Any]) -> int | None:
    limit = (spec.get("memory") or {}).get("limit")
    return int(quantity_value(limit)) if limit else None


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in a process group (the job and its children)."""
    if sys.platform.startswith("linux"):
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5, pgrp; fields[21] is rss in pages
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        return total
    out = subprocess.run(["ps", "-o", "rss=", "-g", str(pgid)], capture_output=True, text=True)
    return sum(int(x) * 1024 for x in out.stdout.split())


def local_refusals(spec: dict[str, Any]) -> list[tuple[str, object, str]]:
    """Options the local backend cannot honour: (option, value, what to do instead)."""
    refused = []
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
