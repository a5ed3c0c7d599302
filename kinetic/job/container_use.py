"""A pod's peak memory from its container's cgroup, for the job's recorded resource use.

Where it sits: on Kubernetes, kinetic.job.worker_run calls ``container_peak`` after the
worker ended. ``wait4`` (kinetic.job.watch) gives the worker's own peak resident memory;
the container's cgroup counts what the kubelet and the OOM killer count — every process
of the container together, page cache included — so where the cgroup says it (cgroup v2
``memory.peak``, v1 ``memory.max_usage_in_bytes``), that is the job's peak.

The cgroup is trusted only when it is the job's own: every process in it is the runner,
one of its ancestors (the container's init) or one of its descendants. A runner that shares
its cgroup with anything else (a simulated node running pods as plain processes, a
machine's shared slice) keeps the worker's ``wait4`` figure instead.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# (file of the peak, its cgroup's process list), cgroup v2 first.
_PEAK_FILES = (("memory.peak", "cgroup.procs"),
               ("memory/memory.max_usage_in_bytes", "memory/cgroup.procs"))  # fmt: skip


def container_peak(root: Path = CGROUP_ROOT, proc: Path = Path("/proc")) -> int | None:
    """The container's peak memory in bytes; None if no cgroup says it or it is not ours."""
    for peak_name, procs_name in _PEAK_FILES:
        try:
            peak = int((root / peak_name).read_text().split()[0])
            pids = [int(p) for p in (root / procs_name).read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
        return peak if pids and only_ours(pids, os.getpid(), proc) else None
    return None


def with_container_peak(usage: dict, peak: int | None) -> dict:
    """The worker's ``resource_use`` with the container's peak in place of its own, when
    known; ``peak_memory_of`` says whose peak it is (pure)."""
    if peak is None:
        return {**usage, "peak_memory_of": "worker"}
    return {**usage, "peak_memory_bytes": peak, "peak_memory_of": "container"}


def only_ours(pids: list[int], me: int, proc: Path = Path("/proc")) -> bool:
    """Every pid is ``me``, an ancestor of mine or a descendant of mine (by /proc's ppids)."""
    ancestors = set(_chain(me, proc))
    for pid in pids:
        if pid in ancestors:
            continue
        if me not in _chain(pid, proc):  # not below me: someone else's process
            return False
    return True


def _chain(pid: int, proc: Path) -> list[int]:
    """``pid`` and its ancestors up to the namespace's root (a gone process: itself only)."""
    found = [pid]
    while pid > 1 and len(found) < 4096:  # a pid-reuse loop cannot hold us
        try:
            stat = (proc / str(pid) / "stat").read_text()
        except OSError:
            break
        # "pid (comm) state ppid …": comm may hold spaces and parentheses; cut at the last ")".
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
        found.append(pid)
    return found
