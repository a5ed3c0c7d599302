"""``python -m kinetic.job --store URI JOB_ID``: what runs inside a job.

The runner is a small supervisor. It runs the job's attempts: each waits for its start
(schedule, retry backoff, dependencies), prepares the environment and restored outputs,
then runs the *worker* (``worker.py``: loads the payload, calls the function, writes the
result envelope) through kinetic.job.worker_run, which forks it, enforces the timeout and
cancellation and keeps the output directory. The supervisor streams the worker's
stdout/stderr, captured at the file-descriptor level, to the store's log (masked, and
echoed), retries the job's failures locally, and always writes a terminal record — even
when the worker crashes, is killed, or never gets as far as the function. Forking (rather
than starting a second interpreter) keeps a job's start cheap; giving the worker its own
process group lets the supervisor stop it and anything it started without stopping itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

from kinetic.job.dependency_wait import hold_for_dependencies
from kinetic.job.launch_claim import claim_launch, submission_complete
from kinetic.job.masking import Masker
from kinetic.job.notify_delivery import JobNotifier, take_urls
from kinetic.job.records import record_end, say, write_state
from kinetic.job.restore import resume_into
from kinetic.job.worker_run import run_worker
from kinetic.job.workflow_summary import WorkflowSummary, summary_member
from kinetic.model.outcome import Outcome
from kinetic.model.reasons import Reason
from kinetic.model.retry_policy import RetryPolicy, attempt_record, retry_at, should_retry
from kinetic.model.spec_record import SpecRecord
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.spec.job_spec import DEFAULT_ACCELERATOR
from kinetic.store import Store, layout, open_store
from kinetic.store.logsink import LogSink
from kinetic.system.procinfo import hostname
from kinetic.wire.progress_record import read_progress
from kinetic.wire.secret_mask import mask_text


# -- the supervisor ----------------------------------------------------------------------------
class Supervisor:
    def __init__(self, store: Store, job_id: str):
        self.store, self.job_id = store, job_id
        self.stop_requested = False
        self.backend = "local"
        self.log_failed = False
        self.launch_claimed = False
        self.notifier: JobNotifier | None = None
        self.summary: WorkflowSummary | None = None  # a workflow's member: its one summary

    def _claim_launch(self) -> None:
        """Locally, record this runner's launch if its client died before doing so."""
        if self.backend == "local" and not self.launch_claimed:
            self.launch_claimed = True
            claim_launch(self.store, self.job_id, int(os.environ.get("KINETIC_ATTEMPT") or 1))

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def note(self, text: str) -> None:
        self._emit(self.masker.mask(f"[kinetic] {text}\n".encode()))

    def write_state(self, state: JobState) -> None:
        """A non-terminal record: best effort (a store that refuses it must not stop the job;
        the terminal record is retried, in ``finish``)."""
        if self.backend == "kubernetes":
            return  # there the operator records the state, in the KineticJob
        write_state(self.store, self.job_id, state)

    def run(self) -> int:
        stopped_early = self.stop_requested
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.stop_requested = stopped_early
        handle = json.loads(self.store.read_bytes(layout.handle_key(self.job_id)))
        spec: SpecRecord = handle.get("spec") or SpecRecord()
        self.backend = handle.get("backend", "local")
        names = spec.get("secret_env_names") or []
        try:
            # notify= URLs come on stdin with the secrets (on Kubernetes the operator posts).
            notify = self.backend != "kubernetes" and bool(spec.get("notify_hosts"))
            self.secrets = read_secrets(names, piped=notify)
        except ValueError:  # cut short: the submitting client died while handing them over
            self.secrets = {}
        # A submission that never finished leaves no trace (see kinetic.job.launch_claim).
        if self.backend == "local" and not submission_complete(names, self.secrets):
            return 0
        urls = take_urls(self.secrets)
        member = summary_member(handle)
        if member is not None and self.backend != "kubernetes":  # the workflow's URLs
            hosts = list(spec.get("notify_hosts") or [])
            self.summary = WorkflowSummary(self.store, self.job_id, member, hosts, urls)
        elif spec.get("notify_hosts") and self.backend != "kubernetes":
            self.notifier = JobNotifier(self.store, self.job_id, handle, urls)
        self.masker = Masker([*self.secrets.values(), *urls])  # a URL the job prints too
        # Set by the operator (each attempt is its own Job there) or by a client relaunching
        # a lost job; locally the runner retries the job's own failures itself, below.
        attempt = int(os.environ.get("KINETIC_ATTEMPT") or 1)
        previous = self._previous_attempts(attempt)
        policy = RetryPolicy.from_spec(spec)
        start = parse_time(spec.get("start_at")) if attempt == 1 else _retry_time()
        while True:
            try:
                state = self.run_attempt(handle, spec, attempt, previous, start)
            except Exception as exc:  # our own failure: the job still gets its record
                traceback.print_exc()
                state = self._final(
                    JobState(JobStatus.RUNNING, created=parse_time(handle.get("created")),
                             attempts=attempt, previous_attempts=list(previous)),
                    Outcome(JobStatus.FAILED, Reason.RUNNER_ERROR,
                            f"the runner failed: {type(exc).__name__}: {exc}"),
                )  # fmt: skip
            # On Kubernetes each attempt is its own Job (the operator retries); elsewhere the
            # runner retries the job's own failures in place.
            retry = self.backend != "kubernetes" and should_retry(policy, state.reason, previous)
            if not retry or state.status != JobStatus.FAILED:
                return self.finish(state)
            previous.append(_record_of(state))
            start = retry_at(policy, attempt, utcnow())
            self.note(f"attempt {attempt} failed ({state.reason}); next at {format_time(start)}")
            self.sink.close()  # this attempt's log is complete before the next one starts
            attempt += 1

    def _previous_attempts(self, attempt: int) -> list[dict]:
        """A relaunched attempt continues the record the client wrote when it relaunched."""
        if attempt <= 1:
            return []
        with contextlib.suppress(Exception):
            record = json.loads(self.store.read_bytes(layout.state_key(self.job_id)))
            return list(record.get("previous_attempts") or [])[: attempt - 1]
        return []

    def run_attempt(
        self,
        handle: dict,
        spec: SpecRecord,
        attempt: int,
        previous: list[dict],
        start: datetime | None,
    ) -> JobState:
        """Run the job once (after waiting until ``start``); its end, not yet recorded."""
        os.environ["KINETIC_ATTEMPT"] = str(attempt)  # the worker and the job inherit it
        remote = not self.store.uri.startswith("file:")
        prefix = layout.logs_prefix(self.job_id, attempt)
        # Appended to, not overwritten: the same attempt may run again (a pod the Job
        # controller replaced, a runner restarted by hand), and its lines stay.
        written = 0
        with contextlib.suppress(Exception):  # an unreadable store: its log starts afresh
            written = self.store.log_end(prefix)
        self.sink = LogSink(self.store, prefix, 1.0 if remote else 0.0, offset=written)
        state = JobState(
            JobStatus.RUNNING,
            created=parse_time(handle.get("created")),
            attempts=attempt,
            previous_attempts=list(previous),
            node=hostname(),
        )
        if not self._wait_until(start, state):
            return self._final(state, Outcome(JobStatus.CANCELLED, Reason.CANCELLED,
                                              "cancelled before it started"))  # fmt: skip
        if self.backend != "kubernetes":  # there the operator holds the pod until then
            record = lambda v: self._waiting(state, v.reason, v.message)  # noqa: E731
            held = hold_for_dependencies(self.store, spec, self._stop_wanted, record)
            if held is not None:
                return self._final(state, held)
        if previous:
            last = previous[-1]
            self.note(f"attempt {attempt}: attempt {last['attempt']} failed "
                      f"({last.get('reason')}: {last.get('message')})")  # fmt: skip
        state = dataclasses.replace(state, started=utcnow())
        self.write_state(state)
        if (
            self.backend == "local"
            and spec.get("accelerator", DEFAULT_ACCELERATOR) != DEFAULT_ACCELERATOR
        ):
            self.note(
                f"accelerator {spec['accelerator']} requested: the local backend runs this job "
                "on this machine as it is"
            )
        if self.backend == "local" and spec.get("spot"):
            self.note("spot requested: ignored by the local backend (this machine is no spot VM)")
        if failed := self._prepare_environment(spec):
            return self._final(state, failed)
        sshd = None
        if spec.get("ssh"):
            # Deferred: only a job with ssh= needs it.
            from kinetic.job.sshd import SshUnavailable, start_for_job

            try:
                sshd = start_for_job(spec)
            except SshUnavailable as exc:  # fail fast: the function never runs
                failed = Outcome(JobStatus.FAILED, Reason.SSH_UNAVAILABLE, str(exc))
                return self._final(state, failed)
            self.note(f"sshd is listening on port {sshd.port}")
        workdir = Path(tempfile.mkdtemp(prefix=f"kinetic-{self.job_id}-"))
        output_dir = workdir / "output"
        output_dir.mkdir()
        try:
            restored = resume_into(self.store, spec, self.job_id, attempt, output_dir, self.note)
            outcome = run_worker(
                self.store, self.job_id, handle, spec, attempt, output_dir, restored,
                backend=self.backend, secrets=self.secrets, pump=self._pump, note=self.note,
                # once the worker runs: no delay to the job's start
                on_start=self._claim_launch, stop_wanted=self._stop_wanted,
            )  # fmt: skip
            return self._final(state, outcome)
        finally:
            if sshd is not None:
                sshd.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    def _prepare_environment(self, spec: SpecRecord) -> Outcome | None:
        """requirements=: the cached environment, or built now (kinetic.job.environment)."""
        # Deferred (~5 ms of imports): until the attempt's RUNNING record is written.
        from kinetic.job.environment import DependencyInstallFailed, InstallCancelled, prepare

        try:
            env = prepare(spec, self.store, self.backend, self.secrets, self.note,
                          cancelled=lambda: self._stop_wanted(True))  # fmt: skip
        except DependencyInstallFailed as exc:
            return Outcome(JobStatus.FAILED, Reason.DEPENDENCY_INSTALL_FAILED, str(exc))
        except InstallCancelled as exc:
            return Outcome(JobStatus.CANCELLED, Reason.CANCELLED, str(exc))
        if env is not None:
            os.environ.update(env.variables())  # the worker inherits them: activate()
        return None

    def _cancel_requested(self) -> bool:
        return self.stop_requested or self.store.exists(layout.cancel_key(self.job_id))

    def _waiting(self, state: JobState, reason: str | None, message: str | None) -> None:
        """Record the attempt as PENDING, waiting for ``reason``."""
        self.write_state(
            dataclasses.replace(state, status=JobStatus.PENDING, reason=reason, message=message)
        )
        self._claim_launch()  # while it waits: no delay to the job's start

    def _wait_until(self, start: datetime | None, state: JobState) -> bool:
        """Hold the attempt until ``start`` (its schedule, or its retry's backoff), PENDING
        meanwhile; False if it is cancelled before."""
        if start is None or start <= utcnow():
            return not self._cancel_requested()
        reason, message = Reason.SCHEDULED, f"starts at {format_time(start)}"
        if state.previous_attempts:
            last = state.previous_attempts[-1]
            reason = Reason.RETRYING
            message = f"attempt {last['attempt']} failed ({last.get('reason')}); {message}"
        self._waiting(state, reason, message)
        check_every = 0.5 if self.store.uri.startswith("file:") else 5.0
        last_check = 0.0
        while (left := (start - utcnow()).total_seconds()) > 0:
            if self.stop_requested:
                return False
            if time.monotonic() - last_check >= check_every:
                last_check = time.monotonic()
                if self._cancel_requested():
                    return False
            time.sleep(min(left, 0.1))
        return not self._cancel_requested()

    def _stop_wanted(self, ask_store: bool) -> bool:
        if not self.stop_requested and ask_store:
            with contextlib.suppress(Exception):  # an unreachable store is asked again later
                self.stop_requested = self._cancel_requested()
        return self.stop_requested

    def _pump(self, fd: int) -> None:
        """Copy the worker's output to the log and our stdout as it arrives."""
        while chunk := os.read(fd, 65536):
            self._emit(self.masker.feed(chunk))
        self._emit(self.masker.flush())
        os.close(fd)

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        with contextlib.suppress(OSError):
            os.write(1, data)
        self.sink.write(data)  # never raises: it keeps a bounded buffer and retries
        if self.notifier is not None:
            self.notifier.tail.feed(data)
        if self.sink.error is not None and not self.log_failed:
            # Said once on our stderr (and in the pod's log); the log itself says it later.
            self.log_failed = True
            say(f"cannot write the job's log to the store, retrying: {self.sink.error}")

    def _final(self, state: JobState, outcome: Outcome) -> JobState:
        return JobState(
            outcome.status,
            reason=outcome.reason,
            # The record, the termination message and so the KineticJob and its Events:
            # masked like the logs, whoever wrote the text.
            message=mask_text(outcome.message, self.secrets.values())
            if outcome.message
            else outcome.message,
            created=state.created,
            started=_first_start(state),
            finished=utcnow(),
            attempts=state.attempts,
            previous_attempts=state.previous_attempts,
            exit_code=outcome.exit_code,
            node=state.node,
            progress=_progress(self.store, self.job_id),
            extra=outcome.extra,
        )

    def finish(self, final: JobState) -> int:
        """Record the job's end (then notify= its URLs); the process exits with the code
        this returns."""
        notify = self.notifier is not None and self.notifier.wants(final)
        if notify:
            final = self.notifier.sending(final)  # type: ignore[union-attr]
        final = record_end(self.store, self.job_id, final, self.sink,
                           local=self.backend != "kubernetes")  # fmt: skip
        if notify:  # after the record: a slow URL never delays the job's end
            self.notifier.deliver_and_record(final)  # type: ignore[union-attr]
        if self.summary is not None:  # after the record: the last member sees every end
            self.summary.after_end()
        if final.status == JobStatus.SUCCEEDED:
            return 0
        # The job's own code where it has one, so a pod's exit code says what the job's did.
        code = final.exit_code
        return code if isinstance(code, int) and 0 < code < 256 else 1


def _progress(store: Store, job_id: str):
    try:
        return read_progress(store, job_id)
    except Exception:  # the job's last report is a nicety; its record is not
        return None


def _first_start(state: JobState) -> datetime | None:
    """A retried job started when its first attempt did (each attempt keeps its own)."""
    first = next((r.get("started") for r in state.previous_attempts if r.get("started")), None)
    return parse_time(first) or state.started


def _record_of(state: JobState) -> dict:
    return attempt_record(
        state.attempts,
        reason=state.reason,
        message=state.message,
        started=format_time(state.started),
        finished=format_time(state.finished),
        node=state.node,
        exit_code=state.exit_code,
    )


def _retry_time() -> datetime | None:
    """When a relaunched attempt may start (the client that relaunched it says)."""
    return parse_time(os.environ.get("KINETIC_RETRY_AT") or None)


def read_secrets(names: list[str], piped: bool = False) -> dict[str, str]:
    """Secret values: from our stdin (local backend) or our environment (a pod's Secret);
    ``piped``: stdin carries something even without names (the notify URLs)."""
    secrets: dict[str, str] = {}
    if (names or piped) and not sys.stdin.isatty():
        text = sys.stdin.read()
        secrets = json.loads(text) if text.strip() else {}
    for name in names:
        if name not in secrets and name in os.environ:
            secrets[name] = os.environ[name]
    return secrets


USAGE = "usage: python -m kinetic.job --store URI JOB_ID"


def main(argv: list[str] | None = None, early_stops: list | None = None) -> int:
    """``early_stops``: stop signals that came before the supervisor's handler was in place
    (kinetic.job.__main__ catches them from its first line)."""
    # No argparse: it costs ~15 ms of imports, and a job's start time is a product metric.
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "--store":
        print(USAGE, file=sys.stderr)
        return 2
    store_uri, job_id = args[1], args[2]
    layout.validate_job_id(job_id)
    stops: list[int] = early_stops if early_stops is not None else []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stops.append(signum))
    supervisor = Supervisor(open_store(store_uri), job_id)
    supervisor.stop_requested = bool(stops)
    return supervisor.run()
