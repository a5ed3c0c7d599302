"""How the local runner measures a job's memory: the resident memory of its process group.

Used by the supervisor to enforce ``memory`` locally (reason ``OOMKilled``, as the kernel's
OOM killer would on a node). On Kubernetes the kubelet and the kernel do this instead.
"""

from __future__ import annotations

import os
import subprocess
import sys


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
