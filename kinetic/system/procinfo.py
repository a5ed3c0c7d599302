"""Process identity that survives pid reuse: (host, boot id, pid, process start time).

A pid alone is not an identity: after the runner dies the kernel may hand its pid to an
unrelated process. The start time (in clock ticks since boot on Linux, from ``ps`` on
macOS) together with the boot id tells the original process from a newcomer.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any


@functools.cache
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        out = subprocess.run(
            ["sysctl", "-n", "kern.boottime"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()


@functools.cache
def hostname() -> str:
    return socket.gethostname()


def _linux_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a process, or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # The command name may contain spaces and ')', so split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _ps_stat(pid: int) -> tuple[str, str] | None:
    out = subprocess.run(
        ["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    line = out.stdout.strip()
    if not line:
        return None
    state, _, start = line.partition(" ")
    return state[:1], start.strip()


def _stat(pid: int) -> tuple[str, str] | None:
    return _linux_stat(pid) if sys.platform.startswith("linux") else _ps_stat(pid)


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start: str
    host: str
    boot: str

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        stat = _stat(pid)
        if stat is None:
            return None
        return cls(pid, stat[1], hostname(), boot_id())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessIdentity:
        return cls(int(data["pid"]), str(data["start"]), str(data["host"]), str(data["boot"]))

    @property
    def is_local(self) -> bool:
        return self.host == hostname()

    def alive(self) -> bool:
        """True while this very process runs. Zombies and pid reuse count as dead."""
        if self.boot != boot_id():
            return False
        stat = _stat(self.pid)
        return stat is not None and stat[0] != "Z" and stat[1] == self.start
