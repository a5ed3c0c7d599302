"""How an attempt ended, decided from what the runner saw. Pure: no I/O, easy to test."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from kinetic.model.reasons import Reason
from kinetic.model.spec_record import SpecRecord
from kinetic.model.status import JobStatus
from kinetic.model.worker_report import WorkerReport


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def conclude(
    spec: SpecRecord,
    stop_reason: str | None,
    exit_code: int,
    worker_report: WorkerReport | None,
    outputs_error: str | None,
    oom_message: str | None = None,
) -> Outcome:
    """``stop_reason`` is why the supervisor stopped the worker (cancel, deadline, oom) or
    None; ``exit_code`` the worker's (negative: killed by that signal); ``worker_report``
    what the worker said about its phases, if it got to say anything."""
    report = worker_report
    finished_first = report is not None and report.success and not report.cancel_seen
    if stop_reason == "cancel" and not finished_first:
        # (A function that returned before the cancel reached it succeeded: its result
        # is stored, and stays collectable.)
        return Outcome(JobStatus.CANCELLED, Reason.CANCELLED, "cancelled", exit_code)
    if stop_reason == "deadline":
        message = f"the job ran past its timeout of {spec.get('timeout'):g}s"
        return Outcome(JobStatus.FAILED, Reason.DEADLINE, message, exit_code)
    if stop_reason == "oom":
        return Outcome(JobStatus.FAILED, Reason.OOM, oom_message, 137)
    if outputs_error:
        return Outcome(JobStatus.FAILED, Reason.OUTPUTS_NOT_SAVED, outputs_error, exit_code)
    if report is not None:
        extra: dict[str, Any] = {"phase": report.phase, "exception_type": report.exception_type}
        if report.result is not None:
            extra["result"] = report.result
        if report.success:
            return Outcome(JobStatus.SUCCEEDED, None, None, 0, extra)
        code = report.exit_code or exit_code or 1
        return Outcome(JobStatus.FAILED, report.reason, report.message, code, extra)
    if exit_code < 0:
        sig = signal.Signals(-exit_code)
        reason = Reason.KILLED if sig == signal.SIGKILL else Reason.CRASHED
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        message = f"the job's process was killed by {sig.name}{hint}"
        return Outcome(JobStatus.FAILED, reason, message, 128 - exit_code)
    message = f"the job's process exited with code {exit_code} before finishing"
    return Outcome(JobStatus.FAILED, Reason.EXIT_CODE, message, exit_code)
