"""What SLURM says about a job → Kinetic's JobState (pure: parsing and decisions).

Backends layer, caller's side. ``kinetic.backends.slurm_commands`` runs squeue/sacct and
hands their text to the parsers here; ``SlurmBackend`` then calls ``combine`` with the
runner's record from the store. Two sources, one verdict:

* the **runner's record** (``state.json``) wins when it is terminal — it knows the job's
  own outcome (UserError, a result digest…) — except where SLURM knows the cause of a
  signal the runner only saw: TIMEOUT, OUT_OF_MEMORY, PREEMPTED and NODE_FAIL reach the
  runner as SIGTERM/SIGKILL (it would say Cancelled or Killed);
* **SLURM** says everything else: PENDING with its reason, RUNNING before the runner
  reports, and how a job ended whose runner left no final record.

A job SLURM has forgotten (past MinJobAge, no accounting) keeps its record from the store;
one that never left a final record there is Lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus, parse_time

# squeue's output format: one job per line, fields split by "|" (none of these holds one).
SQUEUE_FORMAT = "JobID:|,State:|,Reason:|,NodeList:|,StartTime:|,EndTime:|,exit_code:|"
SACCT_FIELDS = "JobID,State,Reason,NodeList,Start,End,ExitCode"

PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
RUNNING_STATES = frozenset(
    {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"}
)
SUSPENDED_STATES = frozenset({"SUSPENDED", "STOPPED"})
# SLURM states that name the cause of a signal the runner could only see as a signal.
CAUSE_STATES = frozenset({"TIMEOUT", "DEADLINE", "OUT_OF_MEMORY", "PREEMPTED", "NODE_FAIL"})
# The runner's verdicts that such a signal produces (SIGTERM: Cancelled; SIGKILL: Killed).
SIGNAL_VERDICTS = frozenset({Reason.CANCELLED, Reason.KILLED, Reason.CRASHED, Reason.LOST})


@dataclass(frozen=True)
class SlurmJob:
    """One SLURM job as squeue, scontrol or sacct reports it."""

    slurm_id: str
    state: str  # SLURM's JobState: PENDING, RUNNING, COMPLETED, TIMEOUT…
    reason: str = "None"  # why it is pending (Resources, Priority…) or how it ended
    node: str | None = None
    start: str | None = None  # ISO local time as SLURM prints it, or None
    end: str | None = None
    exit_code: int | None = None  # the batch script's exit code
    signal: int | None = None  # the signal that ended it, if any


def _time(text: str) -> str | None:
    return None if text in ("", "N/A", "NONE", "Unknown", "None") else text


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    """``squeue -h --states=all -O SQUEUE_FORMAT`` → jobs by id. exit_code is a raw wait
    status there (768 = exit 3; 253 = signal 125 with the core bit)."""
    jobs = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 7 or not parts[0].strip():
            continue
        slurm_id, state, reason, node, start, end, raw = (p.strip() for p in parts[:7])
        status = int(raw) if raw.isdigit() else None
        jobs[slurm_id] = SlurmJob(
            slurm_id,
            state,
            reason or "None",
            node or None,
            _time(start),
            _time(end),
            None if status is None else (status >> 8) & 0xFF,
            None if status is None else (status & 0x7F) or None,
        )
    return jobs


def _exit_pair(text: str) -> tuple[int | None, int | None]:
    """``3:0`` (scontrol, sacct) → (exit code, signal or None)."""
    code, _, sig = text.partition(":")
    try:
        return int(code), (int(sig) or None) if sig else None
    except ValueError:
        return None, None


def parse_scontrol(text: str) -> dict[str, SlurmJob]:
    """``scontrol show job -o [ID]`` → jobs by id (one ``key=value …`` line per job)."""
    jobs = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "JobId" not in fields:
            continue
        code, sig = _exit_pair(fields.get("ExitCode", ""))
        jobs[fields["JobId"]] = SlurmJob(
            fields["JobId"],
            fields.get("JobState", "UNKNOWN"),
            fields.get("Reason", "None"),
            fields.get("NodeList") or None,
            _time(fields.get("StartTime", "")),
            _time(fields.get("EndTime", "")),
            code,
            sig,
        )
    return jobs


def parse_sacct(text: str) -> dict[str, SlurmJob]:
    """``sacct -X -n -P -o SACCT_FIELDS`` → jobs by id (State may read ``CANCELLED by 0``)."""
    jobs = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 7 or not parts[0]:
            continue
        code, sig = _exit_pair(parts[6])
        jobs[parts[0]] = SlurmJob(
            parts[0],
            parts[1].split()[0] if parts[1] else "UNKNOWN",
            parts[2] or "None",
            None if parts[3] in ("", "None assigned") else parts[3],
            _time(parts[4]),
            _time(parts[5]),
            code,
            sig,
        )
    return jobs


def slurm_outcome(job: SlurmJob, cancel_requested: bool) -> tuple[JobStatus, Reason, str]:
    """SLURM's view alone → (status, reason, message). For a terminal SLURM state this is
    how the job ended when its runner left no record (or a signal's cause, see above)."""
    where = f"SLURM job {job.slurm_id}"
    state, why = job.state, job.reason
    if state in PENDING_STATES:
        detail = f" ({why})" if why and why != "None" else ""
        return JobStatus.PENDING, Reason.QUEUED, f"{where} is {state.lower()} in SLURM{detail}"
    if state in RUNNING_STATES:
        on = f" on {job.node}" if job.node else ""
        return JobStatus.PENDING, Reason.STARTING, f"{where} runs{on}; its runner is starting"
    if state in SUSPENDED_STATES:
        return JobStatus.RUNNING, Reason.SUSPENDED, f"{where} is suspended by SLURM"
    if state == "CANCELLED":
        by = "" if cancel_requested else " (not by Kinetic: scancel or an administrator)"
        return JobStatus.CANCELLED, Reason.CANCELLED, f"{where} was cancelled{by}"
    if state in ("TIMEOUT", "DEADLINE"):
        return JobStatus.FAILED, Reason.DEADLINE, f"{where} reached its SLURM time limit"
    if state == "OUT_OF_MEMORY":
        return JobStatus.FAILED, Reason.OOM, f"{where} ran out of memory (SLURM's limit)"
    if state == "PREEMPTED":
        return JobStatus.FAILED, Reason.PREEMPTED, f"{where} was preempted"
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return JobStatus.FAILED, Reason.LOST, f"{where}: {state} on {job.node or 'its node'}"
    if job.signal:
        reason = Reason.KILLED if job.signal == 9 else Reason.CRASHED
        why_text = f", {why}" if why and why != "None" else ""
        text = f"{where} {state}: its runner was ended by signal {job.signal}{why_text}"
        return JobStatus.FAILED, reason, text
    # COMPLETED or FAILED with no record: the runner ended before writing one.
    code = job.exit_code if job.exit_code is not None else "?"
    text = f"{where} {state} (exit code {code}) but its runner left no final record"
    return JobStatus.FAILED, Reason.LOST, text


def needs_slurm(record: JobState, cancel_requested: bool) -> bool:
    """Whether a terminal record from the runner may hide a cause only SLURM knows."""
    if record.reason not in SIGNAL_VERDICTS or "slurm_state" in record.extra:
        return False
    return not (record.reason == Reason.CANCELLED and cancel_requested)


def combine(
    record: JobState | None,
    job: SlurmJob | None,
    *,
    cancel_requested: bool,
    created: str | None,
) -> tuple[JobState, bool]:
    """The job's state from the runner's record and SLURM's; True when it is a verdict the
    store does not hold yet (the caller records it, since SLURM will forget the job)."""
    if record is not None and record.status.is_terminal:
        if not needs_slurm(record, cancel_requested) or job is None:
            return record, False
        if job.state in RUNNING_STATES:
            # The runner has written its end, but SLURM, still ending the job, may yet say
            # why its process was signalled (the OOM event is counted when the step ends).
            message = f"its runner says {record.reason}; SLURM job {job.slurm_id} is ending"
            ending = dataclasses.replace(record, status=JobStatus.RUNNING, finished=None)
            return dataclasses.replace(ending, reason=Reason.TERMINATING, message=message), False
        checked = dataclasses.replace(record, extra={**record.extra, "slurm_state": job.state})
        if job.state not in CAUSE_STATES:
            return checked, True  # SLURM agrees: recorded, so it is not asked again
        status, reason, message = slurm_outcome(job, cancel_requested)
        return dataclasses.replace(checked, status=status, reason=reason, message=message), True
    base = record or JobState(JobStatus.PENDING, created=parse_time(created))
    if job is None:
        message = "SLURM no longer knows the job and its runner left no final record"
        lost = dataclasses.replace(base, status=JobStatus.FAILED, reason=Reason.LOST)
        return dataclasses.replace(lost, message=message), True
    status, reason, message = slurm_outcome(job, cancel_requested)
    if status.is_terminal:
        ended = dataclasses.replace(base, status=status, reason=reason, message=message)
        if job.exit_code is not None and ended.exit_code is None and not job.signal:
            ended = dataclasses.replace(ended, exit_code=job.exit_code)
        return dataclasses.replace(ended, node=ended.node or job.node), True
    if record is None:
        return dataclasses.replace(base, status=status, reason=reason, message=message), False
    if job.state in PENDING_STATES:  # e.g. a relaunched attempt, queued again
        also = f"; {record.message}" if record.message else ""
        queued = dataclasses.replace(record, status=status, reason=reason)
        return dataclasses.replace(queued, message=message + also), False
    if reason == Reason.SUSPENDED:
        return dataclasses.replace(record, reason=reason, message=message), False
    return record, False  # the runner reports (RUNNING, or waiting for its start_at)
