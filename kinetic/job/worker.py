"""The worker: the forked child of the runner that loads the payload, runs the function and
writes the result envelope. It reports its outcome to the supervisor on a pipe; everything
else about the job's life (logs, time limits, the terminal record) is the supervisor's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kinetic.job import context
from kinetic.job.batch_item import attach_batch_function
from kinetic.job.debugger import DebuggerUnavailable
from kinetic.job.dependency_values import fill_in
from kinetic.job.env_activate import activate
from kinetic.job.progress_writer import flush_progress
from kinetic.job.project_copy import unpack_project
from kinetic.model.errors import (
    JobExistsError,
    KineticError,
    SerializationError,
    StorageError,
    VersionSkewError,
)
from kinetic.model.reasons import Reason
from kinetic.model.spec_record import SpecRecord
from kinetic.model.worker_report import WorkerReport
from kinetic.store import Store, forget_stores, layout, open_store
from kinetic.wire.framing import frame, load_framed, store_framed
from kinetic.wire.payload import Payload, ResultEnvelope, failure_envelope
from kinetic.wire.secret_mask import mask_text
from kinetic.wire.version_skew import explain_load_failure, fingerprint, skew_problem


def execute(store: Store, job_id: str, handle: dict[str, Any], output_dir: Path) -> WorkerReport:
    """Load, set up, run, and record the result. Returns the outcome for the supervisor."""
    phase, value = "load", None
    # Read before the job's code runs (it may change its environment): every text of the
    # envelope is masked with them, as the supervisor masks the logs.
    names = (handle.get("spec") or {}).get("secret_env_names") or []
    secrets = [os.environ[n] for n in names if os.environ.get(n)]
    try:
        activate()  # requirements=: the environment's packages before the payload's imports
        spec: SpecRecord = handle.get("spec") or SpecRecord()
        if spec.get("debug"):  # fail fast: before the payload loads
            from kinetic.job.debugger import require

            require()
        payload = fill_in(store, load_payload(store, job_id, handle))  # dependencies' values
        phase = "setup"
        os.environ.update(spec.get("env") or {})
        os.environ.update(payload.captured_env)
        if spec.get("ports"):
            from kinetic.spec.ports import port_env

            os.environ.update(port_env(spec["ports"]))
        os.environ["KINETIC_JOB_ID"] = job_id
        os.environ["KINETIC_OUTPUT_DIR"] = str(output_dir)
        os.environ["KINETIC_STORE_URI"] = store.uri  # for report_progress()
        cwd = payload.client.get("cwd")
        project = payload.client.get("project")
        if project or payload.files:
            # working_dir=: the job runs in its copy; files= are written where it runs.
            work = output_dir.parent / "work"
            run_in = unpack_project(store, project, work) if project else work
            write_files(run_in, payload.files)
            os.chdir(run_in)
        elif handle.get("backend") == "local" and cwd and os.path.isdir(cwd):
            os.chdir(cwd)  # locally, relative paths mean what they meant to the caller
        _record_session(spec, payload.captured_env)
        if cores := spec.get("cpu_cores"):
            from kinetic.spec.resources import parse_cpu_cores

            os.sched_setaffinity(0, parse_cpu_cores(cores))  # children inherit it
        if spec.get("debug"):
            _serve_debugger(store, job_id, spec, cwd)
        phase = "run"
        try:
            try:
                context.function_running(True)
                if payload.command:
                    envelope = run_command(payload.command)
                else:
                    function = payload.function
                    assert function is not None  # a job without a command has one
                    # Not the runner's command line: argv[0] names the function, as a
                    # script's names the script.
                    sys.argv = [getattr(function, "__name__", "job")]
                    value = function(*payload.args, **payload.kwargs)
                    envelope = ResultEnvelope(True, value)
            finally:
                context.function_running(False)
        except context.JobInterrupted:
            # Stopped by us (cancel, timeout): the supervisor says so; no result to store,
            # and nothing that a result() elsewhere would mistake for a Ctrl-C of its own.
            return WorkerReport(False, phase="run", message="interrupted", cancel_seen=True)
        except SystemExit as exc:
            if exc.code in (None, 0):
                envelope = ResultEnvelope(True, None)
            else:
                envelope = failure_envelope(exc, phase, Reason.EXIT_CODE, secrets=secrets)
                envelope.exit_code = exc.code if isinstance(exc.code, int) else 1
                envelope.message = mask_text(f"the job called sys.exit({exc.code!r})", secrets)
    except DebuggerUnavailable as exc:
        # Not the job's exception, nor a fault of ours: what is missing and what to do.
        envelope = ResultEnvelope(False, phase=phase, reason=Reason.DEBUGGER_UNAVAILABLE,
                                  message=mask_text(str(exc), secrets))  # fmt: skip
        print(f"[kinetic] {envelope.message}", file=sys.stderr, flush=True)
    except BaseException as exc:
        reason = Reason.USER_ERROR if phase == "run" else Reason.RUNNER_ERROR
        if isinstance(exc, VersionSkewError):
            reason = Reason.VERSION_SKEW
        # In the run phase the traceback starts at the user's function, as `python x.py`
        # would print it; before, this frame is where the job's own machinery failed.
        skip = 1 if phase == "run" else 0
        envelope = failure_envelope(exc, phase, reason, secrets=secrets, skip_frames=skip)
        if isinstance(exc, VersionSkewError):
            envelope.message = mask_text(str(exc), secrets)  # both sides and what to do
        elif phase != "run":
            envelope.message = f"phase {phase} failed: {envelope.message}"
    if envelope.traceback and envelope.reason != Reason.EXIT_CODE:
        # The log ends with the traceback, as a script's output would.
        print(envelope.traceback, end="", file=sys.stderr, flush=True)
    try:
        framed = frame(envelope, store=store)
    except SerializationError as exc:
        shown = mask_text(f"({exc.__cause__}): {repr(value)[:500]}", secrets)
        envelope = ResultEnvelope(
            False,
            phase="serialize",
            reason=Reason.RESULT_NOT_SERIALIZABLE,
            message=f"the return value cannot be pickled {shown}",
        )
        framed = frame(envelope, store=store)
    report = WorkerReport(
        success=envelope.success,
        phase=envelope.phase,
        reason=envelope.reason,
        message=envelope.message,
        exception_type=envelope.exception_type,
        exit_code=envelope.exit_code,
        cancel_seen=context.cancel_seen(),
    )
    try:
        # Each attempt has its own result: a retry must not trip over its predecessor's
        # (write-once) exception envelope, and that evidence stays.
        key = layout.result_key(job_id, context.attempt())
        digest = store_framed(store, key, framed, if_absent=True)
        where = {"uri": f"{store.uri}/{key}", "size": digest.size, "sha256": digest.sha256}
        return dataclasses.replace(report, result=where)
    except KineticError as exc:
        refused = isinstance(exc, StorageError) and not isinstance(exc, JobExistsError)
        return dataclasses.replace(
            report,
            success=False,
            phase="store_result",
            reason=Reason.STORE_UNAVAILABLE if refused else Reason.RUNNER_ERROR,
            message=f"phase store_result failed: {exc}",
        )


def load_payload(store: Store, job_id: str, handle: dict[str, Any]) -> Payload:
    """The payload, refused with VersionSkewError when this interpreter cannot load it."""
    client, here = handle.get("client") or {}, fingerprint()
    if not handle.get("command") and (problem := skew_problem(client, here)):
        raise VersionSkewError(problem)  # a command's payload holds no bytecode
    try:
        payload = load_framed(store, layout.payload_key(job_id), handle.get("payload_sha256"))
        return attach_batch_function(store, handle, payload)  # a batch's item: its function
    except SerializationError as exc:
        if explained := explain_load_failure(client, here, str(exc)):
            raise VersionSkewError(explained) from exc
        raise


def _serve_debugger(store: Store, job_id: str, spec: SpecRecord, code_root: str | None) -> None:
    """debug=True: debugpy on the job's debug port, a client awaited (kinetic.job.debugger)."""
    from kinetic.job.debugger import serve
    from kinetic.spec.debugger_options import debug_port
    from kinetic.spec.job_spec import DEFAULT_DEBUG_WAIT

    port = debug_port(spec.get("ports") or [])
    if port is None:  # the spec adds it with debug=True; a hand-made handle.json may not
        raise DebuggerUnavailable("debug=True, but the job declares no port named debug")
    wait = spec.get("debug_wait")
    serve(store, job_id, port, DEFAULT_DEBUG_WAIT if wait is None else float(wait), code_root,
          context.stop_asked)  # fmt: skip


def _record_session(spec: SpecRecord, captured: dict[str, str]) -> None:
    """Record where the job runs and its plain env for `kinetic jobs shell` (local backend:
    the file is this machine's, named by the runner's KINETIC_SESSION_FILE; secret values
    are left out)."""
    path = os.environ.pop("KINETIC_SESSION_FILE", None)
    if not path:
        return
    from kinetic.spec.ports import port_env

    env = {**(spec.get("env") or {}), **captured, **port_env(spec.get("ports") or [])}
    for name in ("KINETIC_JOB_ID", "KINETIC_OUTPUT_DIR", "KINETIC_STORE_URI"):
        env[name] = os.environ[name]
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"cwd": os.getcwd(), "env": env}, f)


def _die_with_parent() -> None:
    """If the supervisor is killed outright, take the worker down too (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def worker_main(
    store_uri: str, job_id: str, handle: dict, output_dir: Path, out_fd: int, ctl_fd: int
) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.environ["PYTHONUNBUFFERED"] = "1"  # the job's Python children flush as they go
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        context.install_cancel_handler()
        # Never share the parent's connections (a forked HTTP pool is not safe to reuse).
        forget_stores()
        report = execute(open_store(store_uri), job_id, handle, output_dir)
        flush_progress()
        # The supervisor reads the pipe as we write (and the report is bounded), so this
        # never blocks for long whatever the exception's size.
        with os.fdopen(ctl_fd, "wb") as ctl:
            ctl.write(report.to_bytes())
        code = 0 if report.success else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def write_files(directory: Path, files: dict[str, tuple[bytes, int]]) -> None:
    for name, (content, mode) in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)


def run_command(command: list[str]) -> ResultEnvelope:
    """Run a command with our stdout/stderr (the job's log); its exit code is the result."""
    import subprocess

    try:
        code = subprocess.run(command, check=False).returncode
    except OSError as exc:  # not found, not executable
        return ResultEnvelope(
            False, reason=Reason.EXIT_CODE, exit_code=127, phase="run",
            message=f"cannot run {command[0]!r}: {exc.strerror}",
        )  # fmt: skip
    if code == 0:
        return ResultEnvelope(True, 0)
    return ResultEnvelope(
        False, reason=Reason.EXIT_CODE, exit_code=code if code > 0 else 128 - code,
        phase="run", message=f"command {command[0]!r} exited with code {code}",
    )  # fmt: skip
