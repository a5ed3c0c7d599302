"""``kinetic cluster`` on the local backend: this machine's CPUs, memory, disks (the
store's and Kinetic's home) and GPUs, and what each running local job uses.

A local job is its runner's session (kinetic.system.sweep), so its use is that session's:
resident memory now, CPU time so far, and CPU percent over a short sample.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlparse

from kinetic.backends.local import read_json
from kinetic.client.job_index import JobFilter, JobView
from kinetic.model.kinetic_home import kinetic_home
from kinetic.model.status import JobStatus
from kinetic.store import layout, open_store
from kinetic.system import machine
from kinetic.system.procinfo import ProcessIdentity, hostname

SAMPLE = 0.5  # seconds between the two reads a CPU percent is taken from
MOST_JOBS = 1000


def store_path(uri: str) -> str | None:
    """The directory of a file:// store (None for a bucket)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def local_capacity(store: str | None = None, index: JobView | None = None) -> dict[str, Any]:
    """This machine and its running local jobs, as ``kinetic cluster -o json`` prints it."""
    index = index or JobView(store=store, backend="local")
    index.refresh()
    disks = []
    if (path := store_path(index.store)) is not None:
        disks.append({"what": "store", **(machine.disk(path) or {"path": path})})
    disks.append({"what": "kinetic home", **(machine.disk(str(kinetic_home())) or {})})
    return {
        "backend": "local",
        "host": hostname(),
        "cpus": machine.cpus(),
        "memory": machine.memory(),
        "disks": disks,
        "gpus": machine.gpus(),
        "jobs": running_jobs(index),
    }


def running_jobs(index: JobView) -> list[dict[str, Any]]:
    """Each running local job of this machine with its memory, CPU time and CPU percent."""
    page = index.page(JobFilter(status=JobStatus.RUNNING), limit=MOST_JOBS)
    st = open_store(index.store)
    sessions: list[tuple[dict[str, Any], ProcessIdentity]] = []
    for handle, state in page.rows:
        if handle.backend != "local":
            continue
        launch = read_json(st, layout.launch_key(handle.job_id, max(1, state.attempts)))
        if launch is None:
            continue
        identity = ProcessIdentity.from_dict(launch)
        if identity.is_local and identity.alive():
            sessions.append(({"job_id": handle.job_id, "function": handle.func_name,
                              "pid": identity.pid}, identity))  # fmt: skip
    first = [_use(identity) for _, identity in sessions]
    if sessions:
        time.sleep(SAMPLE)
    found = []
    for (row, identity), before in zip(sessions, first, strict=True):
        after = _use(identity)
        busy = max(0.0, after.cpu_seconds - before.cpu_seconds) / SAMPLE
        found.append({**row, "rss_bytes": after.rss_bytes, "processes": after.processes,
                      "cpu_seconds": round(after.cpu_seconds, 2),
                      "cpu_percent": round(100 * busy, 1)})  # fmt: skip
    return found


def _use(identity: ProcessIdentity) -> machine.ProcessUse:
    since = int(identity.start) if identity.start.isdigit() else 0
    return machine.session_use(identity.pid, since)
