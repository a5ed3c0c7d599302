"""One run of the worker, from its fork to the attempt's Outcome.

Where it sits: the supervisor (kinetic.job.supervisor) calls ``run_worker`` once per
attempt, after the attempt's wait, dependencies, environment and restored outputs; it
records the Outcome this returns. Here the worker (kinetic.job.worker) is forked in its own
process group, its output handed to the supervisor's log pump, its report read from a pipe
while it runs, its outputs kept (kinetic.job.output_keeper), its stop decisions made
(kinetic.job.watch), whatever it left running ended, and its end concluded
(kinetic.model.outcome) with the resources it used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from kinetic.job.container_use import container_peak, with_container_peak
from kinetic.job.output_keeper import OutputKeeper
from kinetic.job.watch import watch_worker
from kinetic.job.worker import worker_main
from kinetic.model.outcome import Outcome, conclude
from kinetic.model.spec_record import SpecRecord
from kinetic.model.worker_report import MAX_REPORT_BYTES, WorkerReport
from kinetic.store import Store
from kinetic.system.sweep import kill_session


def run_worker(
    store: Store,
    job_id: str,
    handle: dict,
    spec: SpecRecord,
    attempt: int,
    output_dir: Path,
    restored: dict,
    *,
    backend: str,
    secrets: dict[str, str],
    pump: Callable[[int], None],
    note: Callable[[str], None],
    on_start: Callable[[], None],
    stop_wanted: Callable[[bool], bool],
) -> Outcome:
    """Fork the worker and see it to its end. ``pump`` copies the worker's output from the
    descriptor it is given until its end (and closes it); ``on_start`` is called once the
    worker runs; ``stop_wanted(ask_store)`` says whether the job is to stop."""
    out_r, out_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(ctl_r)
        os.environ.update(secrets)
        worker_main(store.uri, job_id, handle, output_dir, out_w, ctl_w)
    # The worker does this too: whichever runs first, a stop signal finds its group.
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    os.close(out_w)
    os.close(ctl_w)
    pumping = threading.Thread(target=pump, args=(out_r,), daemon=True)
    pumping.start()
    # Read the report while the worker runs: one too big for the pipe must not block it.
    report_bytes = bytearray()
    reader = threading.Thread(target=_drain, args=(ctl_r, report_bytes), daemon=True)
    reader.start()
    keeper = OutputKeeper(store, job_id, attempt, output_dir, spec, pid, note, restored)
    on_start()
    end = watch_worker(
        pid, spec, backend=backend, remote=not store.uri.startswith("file:"),
        cancel_requested=stop_wanted, note=note, before_signal=keeper.before_signal,
    )  # fmt: skip
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # whatever the job left running ends with it
    if os.getsid(0) == os.getpid():  # the local runner leads its session: all of it is ours
        kill_session(os.getpid())
    pumping.join(timeout=10)
    reader.join(timeout=10)
    report = WorkerReport.from_bytes(bytes(report_bytes))
    # Stopped and interrupted, not stopping by itself: what it changed after the signal
    # may be cut short (kinetic.job.output_sync).
    interrupted = bool(end.stop_reason and report and report.cancel_seen and not report.success)
    saved = keeper.finish(end.status, end.stop_reason, interrupted)
    exit_code = os.waitstatus_to_exitcode(end.status)
    outcome = conclude(spec, end.stop_reason, exit_code, report, saved, end.oom_message)
    usage = end.usage
    if usage and backend == "kubernetes":  # the container's peak, where its cgroup says
        usage = with_container_peak(usage, container_peak())
    if usage:  # shown by `kinetic jobs status`, top and the dashboard
        outcome = dataclasses.replace(outcome, extra={**outcome.extra, "resources": usage})
    return outcome


def _drain(fd: int, into: bytearray) -> None:
    """Read ``fd`` to its end, keeping at most MAX_REPORT_BYTES (+1, to tell it was over)."""
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(65536):
            if len(into) <= MAX_REPORT_BYTES:
                into += chunk[: MAX_REPORT_BYTES + 1 - len(into)]
