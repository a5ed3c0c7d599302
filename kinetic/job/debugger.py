"""``debug=True`` inside the job: debugpy in the worker, a client awaited, then the function.

Where it sits: ``kinetic.job.worker`` calls ``require()`` as soon as the job's environment
is active (debugpy comes from the job's environment: its image, this machine's Python, or
``requirements=``), so a job without it fails fast with ``DebuggerUnavailable`` before its
payload is even loaded; and ``serve()`` once the job is set up (its working directory, its
env), just before the function runs. ``serve()`` records where it listens in the store
(``layout.debugger_key``) for ``kinetic jobs debug``, then waits for a client up to
``debug_wait`` seconds; the function runs when the client is done configuring (its
breakpoints are set), when the wait ends without one (said in the log), or not at all when
the job is stopped meanwhile.

debugpy has no authentication: whoever reaches its port runs code in the job. So it
listens on 127.0.0.1 only: on Kubernetes only a port-forward (the pods/portforward
permission) reaches it, locally only this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable

from kinetic.model.status import format_time, utcnow
from kinetic.store import Store, layout

LISTEN_HOST = "127.0.0.1"


class DebuggerUnavailable(Exception):
    """debug=True, but debugpy cannot be imported or cannot listen: the function never runs."""


def require() -> None:
    """Fail fast (DebuggerUnavailable) when the job's environment has no debugpy."""
    try:
        import debugpy  # noqa: F401
    except ImportError as exc:
        raise DebuggerUnavailable(
            f"debug=True needs debugpy in the job's environment ({sys.executable} cannot "
            f"import it: {exc}). Install debugpy in the image, add it to requirements=, or "
            "drop debug=True"
        ) from None


def serve(
    store: Store,
    job_id: str,
    port: int,
    wait: float,
    code_root: str | None,
    stop_asked: Callable[[], bool],
) -> bool:
    """Listen on ``port``, record it, and wait up to ``wait`` seconds for a client (until
    ``stop_asked()``). True when a client attached."""
    import debugpy

    try:
        debugpy.listen((LISTEN_HOST, port))
    except Exception as exc:  # e.g. the port is taken: nothing could attach
        raise DebuggerUnavailable(f"debugpy cannot listen on {LISTEN_HOST}:{port}: {exc}") from None
    record = {
        "attempt": int(os.environ.get("KINETIC_ATTEMPT") or 1),
        "host": LISTEN_HOST,
        "port": port,
        # Where the job runs, and the directory its shipped code is named under (the
        # submitter's: a function travels with its real file names): the path mappings.
        "cwd": os.getcwd(),
        "code_root": code_root or os.getcwd(),
        "pid": os.getpid(),
        "listening_since": format_time(utcnow()),
        "debugpy": getattr(debugpy, "__version__", "?"),
    }
    with contextlib.suppress(Exception):  # without it `kinetic jobs debug` says it waits
        store.write_bytes(layout.debugger_key(job_id), json.dumps(record).encode())
    print(f"[kinetic] debugpy is listening on {LISTEN_HOST}:{port}; waiting up to {wait:g}s "
          f"for a client (kinetic jobs debug {job_id})", flush=True)  # fmt: skip
    if wait > 0:
        _wait_for_client(debugpy, wait, stop_asked)
    attached = bool(debugpy.is_client_connected())
    if attached:
        print("[kinetic] debugger attached: running the function", flush=True)
    elif not stop_asked():
        print(f"[kinetic] no debugger attached within {wait:g}s: running the function "
              "(a client may still attach while it runs)", flush=True)  # fmt: skip
    return attached


def _wait_for_client(debugpy, wait: float, stop_asked: Callable[[], bool]) -> None:
    """debugpy.wait_for_client(), ended after ``wait`` seconds or when the job is stopped
    (debugpy's own wait has no bound; another thread may cancel it once it has started)."""
    done = threading.Event()

    def cancel_when_due() -> None:
        deadline = time.monotonic() + wait
        while not done.wait(0.1):
            if time.monotonic() >= deadline or stop_asked():
                # Refused until the wait has started: tried again on the next tick.
                with contextlib.suppress(RuntimeError):
                    debugpy.wait_for_client.cancel()

    threading.Thread(target=cancel_when_due, name="kinetic-debug-wait", daemon=True).start()
    try:
        debugpy.wait_for_client()
    finally:
        done.set()
