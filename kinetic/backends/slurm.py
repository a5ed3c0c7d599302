"""The slurm backend: each job (each attempt) is one SLURM batch job running Kinetic's runner.

Backends layer, caller's side. ``submit`` records the job in the store (``handle.json``,
``payload.pkl``) and runs sbatch with a fixed batch script (kinetic.backends.slurm_sbatch)
that execs ``python -m kinetic.job --store URI JOB_ID`` on a compute node; the runner then
does what it does everywhere (logs, result, ``state.json``), so the store must be visible
from the compute nodes: a shared filesystem (file://) or a bucket (gs://).

Records, besides the runner's:

* ``launch.json`` (per attempt) — ``{"slurm_job_id", "output", "submitted"}``, written right
  after sbatch returns; another login finds the SLURM job through it;
* ``cancel.json`` — a cancel request, which the runner polls for (as locally);
* ``state.json`` — also written here when SLURM knows the end better than the runner's
  record (TIMEOUT, OUT_OF_MEMORY…) or the runner left none, since SLURM forgets jobs.

Secret values never reach the store, sbatch's arguments, the batch script or SLURM's job
record: they are written to a 0600 file under the Kinetic home (shared with the compute
nodes, as home directories are on SLURM clusters) that sbatch connects to the batch
script's stdin (``--input``); the script unlinks it before the runner starts, and the
runner reads the values from its stdin, as the local runner does.

Status: see kinetic.backends.slurm_status (pure). Retries: the runner retries the job's own
failures in place (``retry_on_error``); infrastructure failures (``Lost``, ``Preempted``)
are relaunched by the reader who notices them, as a new SLURM job for the next attempt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

from kinetic.backends import slurm_commands
from kinetic.backends.backend_contract import Backend
from kinetic.backends.slurm_sbatch import (
    BATCH_SCRIPT,
    parse_gpu_types,
    runner_command,
    sbatch_flags,
)
from kinetic.backends.slurm_status import RUNNING_STATES, combine, needs_slurm
from kinetic.model.endpoint import Endpoint
from kinetic.model.errors import JobExistsError, JobNotFoundError, SpecError
from kinetic.model.job_record import JobRecord
from kinetic.model.kinetic_home import kinetic_home
from kinetic.model.reasons import Reason
from kinetic.model.retry_policy import (
    RetryPolicy,
    should_retry,
    waiting_for_retry,
)
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.spec import settings
from kinetic.spec.job_spec import DEFAULT_GRACE_PERIOD, JobSpec
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.wire.framing import Framed, store_framed

# A job whose launch record is missing this long after submission was never started.
LAUNCH_GRACE = 60.0
# After a cancel's grace period, this long for the runner to record its end before scancel.
CANCEL_SLACK = 15.0


def slurm_home() -> Path:
    """Where the batch script, the runners' SLURM output and pending secrets live: the
    Kinetic home, which compute nodes must see at the same path (a shared home)."""
    return kinetic_home() / "slurm"


def output_path(job_id: str, attempt: int = 1) -> Path:
    return slurm_home() / (f"{job_id}.out" if attempt <= 1 else f"{job_id}.{attempt}.out")


def secrets_path(job_id: str) -> Path:
    return slurm_home() / "secrets" / f"{job_id}.json"


def _read_json(store: Store, key: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(key))
    except ObjectNotFound:
        return None


def _record(store: Store, job_id: str) -> JobState | None:
    data = _read_json(store, layout.state_key(job_id))
    return None if data is None else JobState.from_dict(data)


class SlurmBackend(Backend):
    name = "slurm"

    def check(self, spec: JobSpec) -> None:
        from kinetic.backends.slurm_checks import slurm_refusals

        if refused := slurm_refusals(spec.to_dict()):
            option, value, instead = refused[0]
            raise SpecError(option, value, f"the slurm backend cannot honour it; use {instead}")
        parse_gpu_types(settings.resolve("slurm_gpu_types").value)

    def submit(self, handle: JobRecord, spec: JobSpec, payload: Framed) -> None:
        store = open_store(handle.store)
        store.write_bytes(
            layout.handle_key(handle.job_id), handle.to_json().encode(), if_absent=True
        )
        store_framed(store, layout.payload_key(handle.job_id), payload)
        _start(store, handle, spec.runner_secrets())

    def state(self, handle: JobRecord) -> JobState:
        return self.states([handle])[0]

    def states(self, handles: list[JobRecord]) -> list[JobState]:
        """Every job's state with one squeue call (plus one sacct call for jobs squeue has
        forgotten, when the cluster keeps accounting)."""
        found: list[JobState | None] = []
        asked: dict[int, tuple[Store, JobState | None, str]] = {}
        for i, handle in enumerate(handles):
            store = open_store(handle.store)
            record = _record(store, handle.job_id)
            if record is not None and record.status.is_terminal:
                cancelled = store.exists(layout.cancel_key(handle.job_id))
                if not needs_slurm(record, cancelled):
                    found.append(record)
                    continue
            if record is None and not store.exists(layout.handle_key(handle.job_id)):
                found.append(JobState(JobStatus.NOT_FOUND, message="the job was cleaned up"))
                continue
            attempt = max(1, record.attempts if record else 1)
            launch = _read_json(store, layout.launch_key(handle.job_id, attempt))
            if launch is None:
                found.append(self._unlaunched(store, handle, record))
                continue
            asked[i] = (store, record, str(launch["slurm_job_id"]))
            found.append(None)
        jobs = slurm_commands.query(s for _, _, s in asked.values()) if asked else {}
        for i, (store, record, slurm_id) in asked.items():
            handle, job = handles[i], jobs.get(slurm_id)
            if job is None or job.state not in RUNNING_STATES:
                record = _record(store, handle.job_id)  # the runner may have just ended
            cancel_requested = store.exists(layout.cancel_key(handle.job_id))
            state, verdict = combine(
                record, job, cancel_requested=cancel_requested, created=handle.created
            )
            if verdict:
                state = self._conclude(store, handle, state)
            found[i] = state
        done: list[JobState] = []
        for handle, known in zip(handles, found, strict=True):
            assert known is not None
            if known.status.is_terminal:
                secrets_path(handle.job_id).unlink(missing_ok=True)  # never started: gone
            elif known.status == JobStatus.RUNNING:
                from kinetic.wire.progress_record import read_progress

                progress = read_progress(open_store(handle.store), handle.job_id)
                known = dataclasses.replace(known, progress=progress)
            done.append(known)
        return done

    def _unlaunched(self, store: Store, handle: JobRecord, record: JobState | None) -> JobState:
        """No launch record for the current attempt: being submitted, or never started."""
        if record is not None:
            return record  # its runner reports, whatever happened to our record of it
        created = parse_time(handle.created)
        if created and (utcnow() - created).total_seconds() > LAUNCH_GRACE:
            lost = JobState(
                JobStatus.FAILED, reason=Reason.LOST, created=created, finished=utcnow(),
                message="the job was never submitted to SLURM (no launch record)",
            )  # fmt: skip
            return self._conclude(store, handle, lost)
        return JobState(JobStatus.PENDING, reason=Reason.STARTING, created=created)

    def _conclude(self, store: Store, handle: JobRecord, state: JobState) -> JobState:
        """Record a verdict the store lacks (SLURM will forget the job), or retry it."""
        if state.finished is None:
            state = dataclasses.replace(state, finished=utcnow())
        if state.status == JobStatus.FAILED:
            relaunched = _relaunch(store, handle, state)
            if relaunched is not None:
                return relaunched
            if handle.spec.get("retries") and handle.spec.get("secret_env_names"):
                state = dataclasses.replace(
                    state,
                    message=f"{state.message}; not retried: its secret_env values are kept "
                    "nowhere to start it again",
                )
        store.write_bytes(layout.state_key(handle.job_id), json.dumps(state.to_dict()).encode())
        return state

    def cancel(
        self, handle: JobRecord, *, wait: bool = True, timeout: float | None = None
    ) -> JobState:
        store = open_store(handle.store)
        state = self.state(handle)
        if state.status == JobStatus.NOT_FOUND:
            raise JobNotFoundError(handle.job_id, store.uri)
        if state.status.is_terminal:
            return state
        request = {"requested": format_time(utcnow())}
        store.write_bytes(layout.cancel_key(handle.job_id), json.dumps(request).encode())
        slurm_id = _slurm_id(store, handle, state)
        if slurm_id is not None:
            if state.node and state.reason != Reason.QUEUED:
                # The runner reports: SIGTERM to it alone (the batch script's process), and
                # it stops the job with the job's grace period, as on every backend.
                slurm_commands.scancel(slurm_id, signal="TERM", batch_only=True)
            else:
                slurm_commands.scancel(slurm_id)  # queued or starting: nothing to be gentle with
        if not wait:
            return self.state(handle)
        grace = float(handle.spec.get("grace_period", DEFAULT_GRACE_PERIOD))
        first = grace + CANCEL_SLACK if timeout is None else min(timeout, grace + CANCEL_SLACK)
        state = self.wait_stopped(handle, first, slack=0.0, poll=0.2)
        if not state.status.is_terminal and slurm_id is not None:
            # The runner did not record its end in time: SLURM's own cancel (SIGTERM to every
            # process of the job, SIGKILL after the cluster's KillWait).
            slurm_commands.scancel(slurm_id)
            rest = 60.0 if timeout is None else max(0.0, timeout - first)
            state = self.wait_stopped(handle, rest, slack=0.0, poll=0.2)
        return state

    def release(self, handle: JobRecord) -> None:
        if not self.state(handle).status.is_terminal:
            self.cancel(handle, wait=True)
        secrets_path(handle.job_id).unlink(missing_ok=True)
        for path in slurm_home().glob(f"{handle.job_id}.*out"):
            path.unlink(missing_ok=True)

    def endpoints(self, handle: JobRecord) -> dict[str, Endpoint]:
        return {}  # ports are refused by check(): nothing is published

    def slurm_job_id(self, handle: JobRecord) -> str | None:
        """The SLURM job id of the job's current attempt (for users and doctor)."""
        store = open_store(handle.store)
        return _slurm_id(store, handle, self.state(handle))


def _slurm_id(store: Store, handle: JobRecord, state: JobState) -> str | None:
    launch = _read_json(store, layout.launch_key(handle.job_id, max(1, state.attempts)))
    return None if launch is None else str(launch["slurm_job_id"])


def write_batch_script() -> Path:
    """The fixed batch script, written once per Kinetic home (sbatch copies it)."""
    path = slurm_home() / "kinetic-batch.sh"
    with contextlib.suppress(OSError):
        if path.read_text() == BATCH_SCRIPT:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(BATCH_SCRIPT)
    tmp.chmod(0o755)
    tmp.replace(path)
    return path


def _write_secrets(job_id: str, secrets: dict[str, str]) -> Path:
    path = secrets_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(secrets, f)
    return path


def _start(
    store: Store, handle: JobRecord, secrets: dict[str, str], attempt: int = 1, at: str = ""
) -> str:
    """sbatch the runner for ``attempt`` (not before ``at``); record SLURM's job id."""
    script = write_batch_script()
    stdin = _write_secrets(handle.job_id, secrets) if secrets else None
    output = output_path(handle.job_id, attempt)
    flags = sbatch_flags(
        handle.job_id,
        handle.spec,
        output=str(output),
        stdin=str(stdin) if stdin else None,
        gpu_types=parse_gpu_types(settings.resolve("slurm_gpu_types").value),
    )
    python = (handle.spec.get("slurm") or {}).get("python") or sys.executable
    command = runner_command(python, handle.store, handle.job_id)
    # The values the runner needs reach it through sbatch's environment (--export=ALL),
    # never through a command line or the script.
    env = dict(os.environ)
    if attempt > 1:
        env.update(KINETIC_ATTEMPT=str(attempt), KINETIC_RETRY_AT=at)
    try:
        slurm_id = slurm_commands.sbatch(
            [*flags, str(script), str(stdin or "-"), *command], env=env, cwd=os.getcwd()
        )
    except BaseException:
        if stdin is not None:
            stdin.unlink(missing_ok=True)
        raise
    launch = {"slurm_job_id": slurm_id, "output": str(output), "submitted": format_time(utcnow())}
    try:
        store.write_bytes(layout.launch_key(handle.job_id, attempt), json.dumps(launch).encode())
    except BaseException:
        slurm_commands.scancel(slurm_id)  # a job nobody could find again must not run
        raise
    return slurm_id


def _relaunch(store: Store, handle: JobRecord, state: JobState) -> JobState | None:
    """Submit the next attempt of a job that failed for the infrastructure's reasons, if
    its retries allow (kinetic.model.retry_policy); None when it is not retried."""
    policy = RetryPolicy.from_spec(handle.spec)
    if handle.spec.get("secret_env_names"):
        return None  # the values went to the first attempt's stdin and nowhere else
    if state.reason not in (Reason.LOST, Reason.PREEMPTED):
        return None  # the job's own failures are retried by its runner, in place
    if not should_retry(policy, state.reason, state.previous_attempts):
        return None
    attempt, now = max(1, state.attempts), utcnow()
    try:  # one relaunch, however many readers notice the failure at once
        claim = f"{layout.attempt_prefix(handle.job_id, attempt + 1)}/claim.json"
        store.write_bytes(claim, json.dumps({"at": format_time(now)}).encode(), if_absent=True)
    except JobExistsError:
        return JobState.from_dict(json.loads(store.read_bytes(layout.state_key(handle.job_id))))
    waiting, when = waiting_for_retry(
        policy, state, state.reason, state.message, now, parse_time(handle.created)
    )
    store.write_bytes(layout.state_key(handle.job_id), json.dumps(waiting.to_dict()).encode())
    _start(store, handle, {}, attempt + 1, when)
    return waiting
