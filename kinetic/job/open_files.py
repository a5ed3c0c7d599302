"""Inside the job: which output files the job's processes hold open for writing.

The supervisor asks just before it signals the worker (stop or kill): a file open for
writing then is being written, and whatever the worker leaves of it may be cut short, so
kinetic.job.output_sync keeps its last synced version instead. Linux's /proc says; where
there is none, nothing is reported (and the file is sent as it was left).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)


def group_pids(pgid: int) -> list[int]:
    """The processes of process group ``pgid``."""
    pids = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # After the command's closing parenthesis: state, ppid, pgrp…
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[2]) == pgid:
                    pids.append(int(entry))
    return pids


def open_for_writing(pids: list[int], directory: Path) -> set[str]:
    """Files under ``directory`` (relative POSIX paths) that ``pids`` hold open to write."""
    base = os.path.realpath(directory)
    found: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError, ValueError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if not target.startswith(base + os.sep):
                        continue
                    info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                    flags = next(int(line.split()[1], 8) for line in info.splitlines()
                                 if line.startswith("flags:"))  # fmt: skip
                    if flags & os.O_ACCMODE in _WRITE_MODES:
                        found.add(os.path.relpath(target, base).replace(os.sep, "/"))
    return found


def writing_now(pgid: int, directory: Path) -> set[str]:
    return open_for_writing(group_pids(pgid), directory)


def worker_running(pid: int) -> bool:
    """Whether ``pid`` still runs (an exited, unreaped process is a zombie: not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not os.path.isdir("/proc/self")  # gone; or no /proc: cannot tell, say it runs
    return stat[stat.rindex(")") + 2] not in "ZX"
