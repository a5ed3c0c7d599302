"""What this machine has and what runs on it: CPUs and load, memory, disks, GPUs, and a
local job's processes (their resident memory and CPU time). Linux's /proc; elsewhere the
portable parts only.

Used by ``kinetic cluster`` on the local backend (kinetic.client.capacity_local).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from kinetic.system.sweep import session_members

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ProcessUse:
    """A group of processes' resident memory (bytes) and CPU time so far (seconds)."""

    rss_bytes: int
    cpu_seconds: float
    processes: int


def cpus() -> dict[str, Any]:
    """CPU count (those this process may use, and all) and the 1/5/15-minute load."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"count": os.cpu_count(), "usable": usable, "load": [round(x, 2) for x in load]}


def memory() -> dict[str, int]:
    """Total and available memory in bytes (/proc/meminfo); empty where there is none."""
    found: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("MemTotal", "MemAvailable"):
                    found[name] = int(rest.split()[0]) * 1024
    except OSError:
        return {}
    return {
        "total_bytes": found.get("MemTotal", 0),
        "available_bytes": found.get("MemAvailable", 0),
    }


def disk(path: str) -> dict[str, Any] | None:
    """The filesystem holding ``path`` (its nearest existing ancestor): sizes in bytes."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and probe != os.path.dirname(probe):
        probe = os.path.dirname(probe)
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return {"path": path, "total_bytes": usage.total, "used_bytes": usage.used,
            "free_bytes": usage.free}  # fmt: skip


NVIDIA_QUERY = "index,name,memory.total,memory.used,utilization.gpu"


def gpus(timeout: float = 10.0) -> list[dict[str, Any]]:
    """This machine's NVIDIA GPUs as nvidia-smi reports them; none without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={NVIDIA_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """nvidia-smi's CSV (NVIDIA_QUERY, no header, no units) as records (pure)."""
    found = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5:
            continue
        index, name, total, used, util = parts
        found.append({"index": int(index), "name": name,
                      "memory_total_bytes": _mib(total), "memory_used_bytes": _mib(used),
                      "utilization_percent": _number(util)})  # fmt: skip
    return found


def _mib(text: str) -> int | None:
    value = _number(text)
    return None if value is None else int(value * 2**20)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]"


def session_use(session: int, started_since: int = 0) -> ProcessUse:
    """The resident memory and CPU time of a session's live processes (a local job's:
    kinetic.system.sweep explains why the session is the job)."""
    rss, ticks, count = 0, 0, 0
    for pid in session_members(session, started_since):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
            with open(f"/proc/{pid}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        rss += pages * PAGE
        count += 1
    return ProcessUse(rss, ticks / TICKS, count)
