"""Watching the worker until it exits: the runner's stop decisions.

Called by kinetic.job.worker_run once it has forked the worker. It asks the worker to stop
(SIGTERM to its process group: the job's main thread is interrupted, see
kinetic.job.context) on a cancel request or at the timeout, kills it after the grace
period, and kills it at once over its memory limit (as a node's OOM killer would).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from kinetic.model.spec_record import SpecRecord
from kinetic.spec.job_spec import DEFAULT_GRACE_PERIOD

KUBERNETES_DEADLINE_BACKSTOP = 30.0


@dataclass
class WorkerEnd:
    stop_reason: str | None  # "cancel", "deadline", "oom", or None: it ended by itself
    status: int  # as os.waitpid gives it
    oom_message: str | None = None
    # What the worker used (resource_use): its peak memory and CPU time, for the state.
    usage: dict | None = None


def resource_use(maxrss_kib: int, user: float, system: float) -> dict:
    """A worker's peak resident memory and CPU time, as the job's state records them
    (``extra["resources"]``; Linux counts ru_maxrss in KiB). Pure."""
    return {"peak_memory_bytes": int(maxrss_kib) * 1024, "cpu_seconds": round(user + system, 3)}


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def watch_worker(
    pid: int,
    spec: SpecRecord,
    *,
    backend: str,
    remote: bool,
    cancel_requested: Callable[[bool], bool],
    note: Callable[[str], None],
    before_signal: Callable[[], None] = lambda: None,
) -> WorkerEnd:
    """Wait for the worker ``pid``; ``cancel_requested(ask_store)`` says whether it should
    stop (asking the store costs a request, so only every few seconds on a bucket)."""
    timeout, grace = spec.get("timeout"), float(spec.get("grace_period", DEFAULT_GRACE_PERIOD))
    if backend == "kubernetes" and timeout:
        # The Job's activeDeadlineSeconds enforces it and says so; this is a backstop in
        # case the Job controller is late (1.20 only re-checks on Job events).
        timeout += KUBERNETES_DEADLINE_BACKSTOP
    start = time.monotonic()
    deadline = start + timeout if timeout else None
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    check_every, last_check = (5.0 if remote else 0.5), start
    stop_reason, kill_at, oom_message = None, None, None
    memory_limit = None
    if backend == "local" and spec.get("memory"):
        # Imported only here: it costs a job's start some milliseconds otherwise.
        from kinetic.job.limits import group_rss_bytes
        from kinetic.spec.resources import memory_limit_bytes

        memory_limit = memory_limit_bytes(spec)
    while True:
        # wait4: the exit status and what the worker (and the children it waited for) used.
        waited, status, rusage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            if pidfd is not None:
                os.close(pidfd)
            usage = resource_use(rusage.ru_maxrss, rusage.ru_utime, rusage.ru_stime)
            return WorkerEnd(stop_reason, status, oom_message, usage)
        now = time.monotonic()
        if stop_reason is None:
            ask_store = now - last_check >= check_every
            if ask_store:
                last_check = now
            if cancel_requested(ask_store):
                stop_reason = "cancel"
            elif deadline is not None and now >= deadline:
                stop_reason = "deadline"
            elif memory_limit and (used := group_rss_bytes(pid)) > memory_limit:
                # As the kernel's OOM killer does on a node: no grace, no warning.
                oom_message = (
                    f"the job used {used / 2**20:.0f} MiB, over its memory limit of "
                    f"{(spec.get('memory') or {}).get('limit')}"
                )
                note(f"{oom_message}: killing it")
                before_signal()
                _signal_group(pid, signal.SIGKILL)
                stop_reason = "oom"
                continue
            if stop_reason:
                what = (
                    "cancel requested"
                    if stop_reason == "cancel"
                    else f"timeout of {timeout:g}s reached"
                )
                note(f"{what}: interrupting the job (killed if still running in {grace:g}s)")
                before_signal()  # what it is writing now may be cut short
                _signal_group(pid, signal.SIGTERM)
                kill_at = now + grace
        elif kill_at is not None and now >= kill_at:
            note(f"the job did not stop within {grace:g}s: killing it")
            before_signal()
            _signal_group(pid, signal.SIGKILL)
            kill_at = None
        if pidfd is not None:
            # Woken by the worker's exit at once; otherwise a signal to us (a cancel) is seen
            # within this pause.
            select.select([pidfd], [], [], 0.05 if memory_limit else 0.1)
        else:
            time.sleep(0.02)
