"""Functions the real-node tests run as jobs (a module of the test project: by value)."""

from __future__ import annotations

import os
import signal
import socket
import time


def where():
    """Where the job ran: the container's hostname (the pod), its uid, its cgroup."""
    with open("/proc/self/cgroup") as f:
        cgroup = f.read()
    print(f"running as uid {os.getuid()} on {socket.gethostname()}", flush=True)
    return {"uid": os.getuid(), "hostname": socket.gethostname(), "kubepods": "kubepods" in cgroup}


def term_then_linger(seconds):
    """Say when SIGTERM arrives, and keep running anyway: only SIGKILL ends it."""

    def on_term(signum, frame):
        print("SIGTERM received, lingering", flush=True)

    signal.signal(signal.SIGTERM, on_term)
    print("working", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return "finished"


def file_modes(paths):
    """The mode bits of files, seen from the job (uid 10001)."""
    import stat

    return {p: stat.S_IMODE(os.stat(p).st_mode) for p in paths}
