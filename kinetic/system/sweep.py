"""Ending whatever a job started, once the job is over (Linux).

The local backend starts each runner as a session leader (``start_new_session``), and the
session id is inherited by everything the job starts, whatever process group it moves to.
So the session is the job: the runner sweeps it when an attempt ends
(kinetic.job.supervisor), and whoever finds a runner gone (kinetic.backends.local, on a
status check) sweeps the dead runner's session, so no child of a killed runner runs on.
A process that starts a session of its own (a daemon) has left the job and is not found.
"""

from __future__ import annotations

import os
import signal
import sys


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def session_members(session: int, started_since: int = 0) -> list[int]:
    """Live processes in ``session`` started at or after ``started_since`` (clock ticks
    since boot: a session id reused after its leader died is not ours)."""
    if not sys.platform.startswith("linux"):
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        # fields: state, ppid, pgrp, session, … starttime at index 19
        if fields is None or fields[0] == "Z" or int(fields[3]) != session:
            continue
        if int(fields[19]) >= started_since:
            found.append(int(name))
    return found


def kill_session(session: int, started_since: int = 0, rounds: int = 5) -> list[int]:
    """SIGKILL every process of ``session`` but this one; the pids signalled.

    The listing is repeated (up to ``rounds`` times) until it finds nothing new, because a
    member may fork between the read of /proc and its kill.
    """
    killed: list[int] = []
    for _ in range(rounds):
        fresh = [p for p in session_members(session, started_since)
                 if p != os.getpid() and p not in killed]  # fmt: skip
        if not fresh:
            break
        for pid in fresh:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return killed
