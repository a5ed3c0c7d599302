"""The local backend: each job is a detached runner process on this machine.

Records, all in the store (so another process, or another machine with a shared store,
finds them):

* ``handle.json``  written first, write-once;
* ``payload.pkl``  then the payload;
* ``launch.json``  the runner's process identity, written right after it is started
                   (per attempt: a retried job's later ones under ``attempts/N/``); the
                   first one commits the submission: a job without it (nor a state.json)
                   is an unfinished submission, never shown and collected after a minute;
* ``state.json``   the runner's own record of its phase (RUNNING … terminal);
* ``cancel.json``  a cancel request, which the runner polls for.

A job's status is its ``state.json`` plus a liveness check of the runner process: a
non-terminal record whose runner is gone means the runner was killed outright (``Lost``);
with ``retries`` the reader who notices starts the next attempt. The runner itself retries
the job's own failures (``retry_on_error``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from kinetic.backends.backend_contract import Backend
from kinetic.model.endpoint import Endpoint
from kinetic.model.errors import (
    BackendError,
    JobExistsError,
    JobNotFoundError,
    SpecError,
    StorageError,
)
from kinetic.model.job_record import JobRecord
from kinetic.model.kinetic_home import kinetic_home
from kinetic.model.reasons import Reason
from kinetic.model.retry_policy import (
    RetryPolicy,
    should_retry,
    waiting_for_retry,
)
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.spec.job_spec import JobSpec
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.system import notify_keep
from kinetic.system.procinfo import ProcessIdentity
from kinetic.system.sweep import kill_session
from kinetic.wire.framing import Framed, store_framed

# A runner that has not recorded its launch this long after submission never started.
LAUNCH_GRACE = 60.0


def runner_stderr_path(job_id: str) -> Path:
    return kinetic_home() / "runners" / f"{job_id}.err"


def session_path(job_id: str) -> Path:
    """Where a running job's worker records its directory and plain env (for `shell`)."""
    return kinetic_home() / "runners" / f"{job_id}.session.json"


def read_json(store: Store, key: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(key))
    except ObjectNotFound:
        return None


class LocalBackend(Backend):
    name = "local"

    def check_options(self, spec: JobSpec) -> None:
        from kinetic.backends.local_checks import placement_refusals, resource_refusals

        data = spec.to_dict()
        if refused := resource_refusals(data) + placement_refusals(data):
            option, value, instead = refused[0]
            raise SpecError(option, value, f"the local backend cannot honour it; use {instead}")

    def check(self, spec: JobSpec) -> None:
        self.check_options(spec)
        from kinetic.backends.local_checks import ports_in_use

        if taken := ports_in_use(spec.ports):
            raise SpecError(
                "ports", str(taken[0]),
                f"a port free on this machine (the local backend's ports are this machine's): "
                f"{taken[0].port} is in use here",
            )  # fmt: skip

    def submit(self, handle: JobRecord, spec: JobSpec, payload: Framed) -> None:
        """All or nothing: handle.json (write-once: an id collision stops here), the
        payload, the runner, its secrets, then launch.json, the commit. Until the commit
        the job is invisible (NOT_FOUND, unlisted); a runner started before the client
        died commits it itself (kinetic.job.launch_claim)."""
        store = open_store(handle.store)
        store.write_bytes(
            layout.handle_key(handle.job_id), handle.to_json().encode(), if_absent=True
        )
        store_framed(store, layout.payload_key(handle.job_id), payload)
        if spec.notify:  # kept privately on this machine for a retry (kinetic jobs retry)
            notify_keep.keep(store.uri, handle.job_id, spec.notify)
        _launch(store, handle, spec.runner_secrets())

    def state(self, handle: JobRecord) -> JobState:
        store = open_store(handle.store)
        record = read_json(store, layout.state_key(handle.job_id))
        if record is not None:
            state = JobState.from_dict(record)
            if state.status.is_terminal:
                return state
            if state.reason == Reason.BATCH_QUEUED:  # a batch's item, queued again
                nxt = state.attempts + 1
                if not store.exists(layout.launch_key(handle.job_id, nxt)):
                    return state  # queued again (retry_failed): its batch's driver starts it
                state = dataclasses.replace(state, reason=Reason.STARTING, attempts=nxt)
        elif not store.exists(layout.handle_key(handle.job_id)):
            return _cleaned_up(store, handle.job_id)
        else:
            state = JobState(
                JobStatus.PENDING, reason=Reason.STARTING, created=parse_time(handle.created)
            )
        state = self._check_alive(store, handle, state)
        if not state.status.is_terminal:  # a finished job's record holds its last report
            from kinetic.wire.progress_record import read_progress

            state = dataclasses.replace(state, progress=read_progress(store, handle.job_id))
        return state

    def _check_alive(self, store: Store, handle: JobRecord, state: JobState) -> JobState:
        attempt = max(1, state.attempts)
        launch = read_json(store, layout.launch_key(handle.job_id, attempt))
        if launch is None and state.attempts == 0:
            if _batch_item(handle) and not _batch_uncommitted(store, handle):
                # A batch's item waiting for a slot: its batch's driver starts it.
                return JobState(JobStatus.PENDING, reason=Reason.BATCH_QUEUED,
                                message="waiting for a slot in its batch",
                                created=parse_time(handle.created))  # fmt: skip
            return _uncommitted(store, handle)
        if launch is None:
            # A relaunched attempt's clock starts when the one before it was found lost.
            earlier = state.previous_attempts[-1].get("finished") if attempt > 1 else None
            created = parse_time(earlier or handle.created)
            if created and (utcnow() - created).total_seconds() > LAUNCH_GRACE:
                return self._mark_lost(store, handle, state, "the runner was never started")
            return state
        identity = ProcessIdentity.from_dict(launch)
        if not identity.is_local or identity.alive():
            return state  # another machine's runner: its record is all we can know
        # The runner may have written its final record just before exiting: read again.
        record = read_json(store, layout.state_key(handle.job_id))
        if record is not None and JobStatus(record["status"]).is_terminal:
            return JobState.from_dict(record)
        # Nothing it started may outlive it: its session is the job (kinetic.system.sweep).
        if identity.start.isdigit():
            kill_session(identity.pid, int(identity.start))
        return self._mark_lost(store, handle, state, "the runner process died without a record")

    def _mark_lost(self, store: Store, handle: JobRecord, state: JobState, why: str) -> JobState:
        """The verdict on a job whose runner is gone without a record in the store."""
        if (ended := self._ended_anyway(store, handle, state)) is not None:
            return ended
        detail = _tail(runner_stderr_path(handle.job_id))
        why += f"; its last words: {detail}" if detail else ""
        if (relaunched := _relaunch(store, handle, state, why)) is not None:
            return relaunched
        if handle.spec.get("retries") and handle.spec.get("secret_env_names"):
            why += "; not retried: its secret_env values are kept nowhere to start it again"
        lost = JobState(
            JobStatus.FAILED,
            reason=Reason.LOST,
            message=why,
            created=state.created,
            started=state.started,
            finished=utcnow(),
            attempts=state.attempts,
            previous_attempts=state.previous_attempts,
            node=state.node,
        )
        _record_verdict(store, handle, lost)
        return lost

    def _ended_anyway(self, store: Store, handle: JobRecord, state: JobState) -> JobState | None:
        """A gone runner's job that is not lost: one the runner recorded on its stderr
        because the store refused the record, or one we were asked to cancel (stopped
        before it could say so: a cancel right after submission)."""
        from kinetic.model.last_words import parse_last_words

        text = ""
        with contextlib.suppress(OSError):
            text = runner_stderr_path(handle.job_id).read_text(errors="replace")
        if (record := parse_last_words(text)) is not None:
            ended = JobState.from_dict(record)
            if ended.status.is_terminal and ended.attempts >= state.attempts:
                _record_verdict(store, handle, ended)
                return ended
        if not store.exists(layout.cancel_key(handle.job_id)):
            return None
        cancelled = JobState(
            JobStatus.CANCELLED,
            reason=Reason.CANCELLED,
            message="cancelled; the runner stopped before it could record it",
            created=state.created or parse_time(handle.created),
            started=state.started,
            finished=utcnow(),
            attempts=max(1, state.attempts),
            previous_attempts=state.previous_attempts,
            node=state.node,
        )
        _record_verdict(store, handle, cancelled)
        return cancelled

    def cancel(
        self, handle: JobRecord, *, wait: bool = True, timeout: float | None = None
    ) -> JobState:
        store = open_store(handle.store)
        state = self.state(handle)
        if state.status == JobStatus.NOT_FOUND:
            raise JobNotFoundError(handle.job_id, store.uri)
        if state.status.is_terminal:
            return state
        request = {"requested": utcnow().isoformat()}
        store.write_bytes(layout.cancel_key(handle.job_id), json.dumps(request).encode())
        if state.reason == Reason.BATCH_QUEUED:
            # A batch's item not started: it never will be (its runner, if its supervisor
            # starts one this instant, finds the request and ends CANCELLED too).
            cancelled = dataclasses.replace(
                state, status=JobStatus.CANCELLED, reason=Reason.CANCELLED,
                message="cancelled before it started", finished=utcnow(),
            )  # fmt: skip
            _record_verdict(store, handle, cancelled)
            return cancelled
        launch = read_json(store, layout.launch_key(handle.job_id, max(1, state.attempts)))
        if launch is not None:
            identity = ProcessIdentity.from_dict(launch)
            if identity.is_local and identity.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(identity.pid, signal.SIGTERM)
        if not wait:
            return self.state(handle)
        return self.wait_stopped(handle, timeout, slack=15.0, poll=0.1)

    def release(self, handle: JobRecord) -> None:
        state = self.state(handle)
        if not state.status.is_terminal:
            self.cancel(handle, wait=True)
        runner_stderr_path(handle.job_id).unlink(missing_ok=True)
        session_path(handle.job_id).unlink(missing_ok=True)
        notify_keep.forget(handle.store, handle.job_id)

    def endpoints(self, handle: JobRecord) -> dict[str, Endpoint]:
        """The job's ports are this machine's (or, with a store shared between machines,
        those of the machine whose runner started it)."""
        ports = handle.spec.get("ports") or []
        if not ports:
            return {}
        host = "127.0.0.1"
        attempt = max(1, self.state(handle).attempts)  # a retry may run elsewhere
        launch = read_json(open_store(handle.store), layout.launch_key(handle.job_id, attempt))
        if launch is not None and not ProcessIdentity.from_dict(launch).is_local:
            host = launch["host"]
        return {p["name"]: Endpoint(host, p["port"], p["proto"]) for p in ports}

    def session(self, handle: JobRecord) -> dict:
        """A running job's working directory and plain env, as its worker recorded them."""
        state = self.state(handle)
        if state.status != JobStatus.RUNNING:
            raise BackendError(
                f"job {handle.job_id} is {state.status.value}, not RUNNING: "
                "a shell opens only in a running job"
            )
        attempt = max(1, self.state(handle).attempts)  # a retry may run elsewhere
        launch = read_json(open_store(handle.store), layout.launch_key(handle.job_id, attempt))
        if launch is not None and not ProcessIdentity.from_dict(launch).is_local:
            raise BackendError(f"job {handle.job_id} runs on {launch['host']}, not here")
        try:
            return json.loads(session_path(handle.job_id).read_text())
        except (OSError, ValueError):
            raise BackendError(
                f"job {handle.job_id} is still setting up (no session record yet); try again"
            ) from None


def _launch(
    store: Store, handle: JobRecord, secrets: dict[str, str], attempt: int = 1, at: str = ""
) -> None:
    """Start the runner for ``attempt`` (not before ``at``) and record its identity."""
    err_path = runner_stderr_path(handle.job_id)
    err_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KINETIC_SESSION_FILE": str(session_path(handle.job_id))}
    if attempt > 1:
        env.update(KINETIC_ATTEMPT=str(attempt), KINETIC_RETRY_AT=at)
    with err_path.open("ab" if attempt > 1 else "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kinetic.job",
                "--store",
                handle.store,
                handle.job_id,
            ],
            # Secret values reach the runner through a pipe: never the store, never its
            # command line or initial environment (both visible to `ps`).
            stdin=subprocess.PIPE if secrets else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,  # outlives the caller, immune to its Ctrl-C
            close_fds=True,
        )
    if secrets:
        with proc.stdin:  # type: ignore[union-attr]
            proc.stdin.write(json.dumps(secrets).encode())  # type: ignore[union-attr]
    identity = ProcessIdentity.of(proc.pid)
    if identity is not None:
        key = layout.launch_key(handle.job_id, attempt)
        store.write_bytes(key, json.dumps(identity.to_dict()).encode())


def _cleaned_up(store: Store, job_id: str) -> JobState:
    """NOT_FOUND, saying when the job was cleaned up if its tombstone says so."""
    when = None
    with contextlib.suppress(ObjectNotFound, ValueError):
        when = json.loads(store.read_bytes(layout.tombstone_key(job_id))).get("cleaned_up")
    message = f"the job was cleaned up at {when}" if when else "the job's records were cleaned up"
    return JobState(JobStatus.NOT_FOUND, reason=Reason.CLEANED_UP if when else None,
                    message=message, finished=parse_time(when))  # fmt: skip


def _uncommitted(store: Store, handle: JobRecord) -> JobState:
    """A job whose submission never reached its commit (launch.json): its client died
    part-way. It is not a job anyone was given a handle for, so it is not shown; once it
    is old enough that no submission can still be finishing it, its records are deleted."""
    created = parse_time(handle.created)
    if created is not None and (utcnow() - created).total_seconds() > LAUNCH_GRACE:
        store.delete_prefix(layout.job_prefix(handle.job_id))
        return JobState(JobStatus.NOT_FOUND, message="an unfinished submission (collected)")
    return JobState(JobStatus.NOT_FOUND, message="being submitted (not started yet)")


def _batch_item(handle: JobRecord) -> bool:
    """One of a batch's items (not a job retried from one, which carries its batch link
    for the function but is started as any job is)."""
    from kinetic.model.batch_record import item_job_id

    batch = handle.batch
    return bool(batch) and handle.job_id == item_job_id(batch["id"], batch["index"])  # type: ignore[index]


def _batch_uncommitted(store: Store, handle: JobRecord) -> bool:
    """A batch's item whose batch was never committed (no batch.json: its client died
    while submitting it). Nothing will ever start it: like an unfinished submission."""
    assert handle.batch is not None
    return not store.exists(layout.batch_key(handle.batch["id"]))


def _relaunch(store: Store, handle: JobRecord, state: JobState, why: str) -> JobState | None:
    """Start the next attempt of a job whose runner vanished, if its retries allow (an
    infrastructure failure: see kinetic.model.retry_policy). None when it is not retried."""
    policy = RetryPolicy.from_spec(handle.spec)
    if handle.spec.get("secret_env_names"):
        return None  # the values went to the lost runner's stdin and nowhere else
    if not should_retry(policy, Reason.LOST, state.previous_attempts):
        return None
    attempt, now = max(1, state.attempts), utcnow()
    try:  # one relaunch, however many readers notice the loss at once
        claim = f"{layout.attempt_prefix(handle.job_id, attempt + 1)}/claim.json"
        store.write_bytes(claim, json.dumps({"at": format_time(now)}).encode(), if_absent=True)
    except JobExistsError:
        return JobState.from_dict(json.loads(store.read_bytes(layout.state_key(handle.job_id))))
    except StorageError:
        return None  # a store that refuses the claim cannot hold the next attempt either
    waiting, when = waiting_for_retry(
        policy, state, Reason.LOST, why, now, parse_time(handle.created)
    )
    store.write_bytes(layout.state_key(handle.job_id), json.dumps(waiting.to_dict()).encode())
    _launch(store, handle, {}, attempt + 1, when)
    return waiting


def _record_verdict(store: Store, handle: JobRecord, state: JobState) -> None:
    """Record a verdict so every reader (and other machines) agrees from now on; a store
    that refuses it still gets the same verdict from the next reader."""
    with contextlib.suppress(StorageError):
        store.write_bytes(layout.state_key(handle.job_id), json.dumps(state.to_dict()).encode())


def _tail(path: Path, limit: int = 500) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]
