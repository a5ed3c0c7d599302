"""How the runner records a job's state, so that every job gets its terminal record.

Called by kinetic.job.supervisor. The order at the end matters: first the pod's termination
message (a local file, and on Kubernetes the only channel of the result to the operator),
then the rest of the log, then the record in the store, retried with backoff while the
store refuses it (read-only, full, unreachable) for up to ``KINETIC_STORE_PATIENCE`` seconds.
If the store never takes it, the record goes on the runner's stderr as its last words
(kinetic.model.last_words), where the local backend's status check finds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time

from kinetic.model.last_words import format_last_words
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus
from kinetic.store import Store, layout
from kinetic.store.logsink import RETRY_FIRST, RETRY_MOST, LogSink

TERMINATION_LOG = "/dev/termination-log"
STORE_PATIENCE = 60.0  # seconds the runner keeps trying to record a job's end


def store_patience() -> float:
    return float(os.environ.get("KINETIC_STORE_PATIENCE") or STORE_PATIENCE)


def say(text: str) -> None:
    """A line on the runner's stderr: the local runner's file, a pod's log."""
    with contextlib.suppress(OSError, ValueError):
        print(f"[kinetic] {text}", file=sys.stderr, flush=True)


def write_state(store: Store, job_id: str, state: JobState, patience: float = 0.0) -> bool:
    """Write state.json, retrying with backoff for ``patience`` seconds; False if refused."""
    deadline, pause = time.monotonic() + patience, RETRY_FIRST
    data = json.dumps(state.to_dict()).encode()
    while True:
        try:
            store.write_bytes(layout.state_key(job_id), data)
            return True
        except Exception as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                say(f"the store refused the job's {state.status.value} record: {exc}")
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, RETRY_MOST)


def record_end(
    store: Store, job_id: str, final: JobState, sink: LogSink, *, local: bool
) -> JobState:
    """Record the job's end, whatever the store does; the state as recorded."""
    write_termination_message(final)
    patience = store_patience()
    complete = sink.close(patience=patience if local else min(patience, 10.0))
    if not complete:
        lost = sink.pending + sink.dropped
        say(f"the store refused {lost} bytes of the job's output ({sink.error}); the last "
            f"{sink.pending} of them follow here")  # fmt: skip
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.buffer.write(sink.unsaved() + b"\n")
            sys.stderr.flush()
        final = _with_store_fault(final, f"{lost} bytes of its output were never stored")
    if not local:
        return final  # on Kubernetes the operator records the state, in the KineticJob
    if not write_state(store, job_id, final, patience):
        final = _with_store_fault(final, f"the store refused its record ({sink.error or ''})")
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(format_last_words(final.to_dict()))
            sys.stderr.flush()
    return final


def _with_store_fault(state: JobState, what: str) -> JobState:
    """The state, its message saying what the store refused; a failure caused by the store
    keeps its reason, and a job that could not finish for it says StoreUnavailable."""
    message = f"{state.message}; {what}" if state.message else what
    reason = state.reason
    if state.status == JobStatus.FAILED and reason in (Reason.RUNNER_ERROR, None):
        reason = Reason.STORE_UNAVAILABLE
    return dataclasses.replace(state, message=message, reason=reason)


def write_termination_message(state: JobState) -> None:
    """Tell Kubernetes how the job ended (the operator reads it from the pod's status)."""
    from kinetic.wire.termination import format_termination_message

    path = os.environ.get("KINETIC_TERMINATION_LOG", TERMINATION_LOG)
    if not os.path.exists(path) or not os.access(path, os.W_OK):
        return
    text = format_termination_message(
        result=state.extra.get("result"),
        reason=state.reason,
        exception_type=state.extra.get("exception_type"),
        message=state.message,
        resources=state.extra.get("resources"),
    )
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(text)
