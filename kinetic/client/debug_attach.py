"""``kinetic jobs debug``'s caller side: where a debug=True job's debugpy listens, and the
VS Code launch configuration that attaches to it.

The job records its debugger in the store when it listens (``kinetic.job.debugger``):
``wait_for_debugger`` reads that record (waiting while the job starts), and
``launch_configuration`` (pure) turns it and the local address that reaches it (the same
port locally, a port-forward on Kubernetes) into a ``launch.json``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from kinetic.model.errors import BackendError
from kinetic.model.status import JobStatus
from kinetic.store import layout

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle


def wait_for_debugger(handle: JobHandle, timeout: float) -> dict[str, Any]:
    """The running attempt's debugger record; BackendError when the job is not (or no
    longer) running with one, or it is not listening within ``timeout`` seconds."""
    if not handle.spec.get("debug"):
        raise BackendError(f"job {handle.job_id} was not submitted with debug=True")
    store = handle._store
    deadline = time.monotonic() + timeout
    while True:
        state = handle.state()
        if state.status.is_terminal:
            why = f" ({state.reason}: {state.message})" if state.reason else ""
            raise BackendError(f"job {handle.job_id} is {state.status.value}{why}")
        record = None
        if state.status == JobStatus.RUNNING and store.exists(layout.debugger_key(handle.job_id)):
            record = json.loads(store.read_bytes(layout.debugger_key(handle.job_id)))
            # An earlier attempt's record says nothing about this one's debugger.
            if int(record.get("attempt") or 1) != (state.attempts or 1):
                record = None
        if record is not None:
            return record
        if time.monotonic() >= deadline:
            raise BackendError(
                f"job {handle.job_id} is {state.status.value} but its debugger is not "
                f"listening yet (waited {timeout:g}s); try again, or see its log"
            )
        time.sleep(0.5)


def launch_configuration(
    job_id: str, record: dict[str, Any], host: str, port: int, local_root: str
) -> dict[str, Any]:
    """VS Code's launch.json attaching to the job's debugpy at ``host:port``.

    Path mappings: the job's code is named under the submitter's directory (a function
    travels with its real file names) and its other files under the job's working
    directory; both map to ``local_root``, the directory these files are in here."""
    roots = dict.fromkeys([record.get("code_root"), record.get("cwd")])
    mappings = [{"localRoot": local_root, "remoteRoot": r} for r in roots if r]
    return {
        "version": "0.2.0",
        "configurations": [
            {
                "name": f"kinetic: {job_id}",
                "type": "debugpy",
                "request": "attach",
                "connect": {"host": host, "port": port},
                "pathMappings": mappings,
                "justMyCode": False,
            }
        ],
    }
