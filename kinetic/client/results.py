"""Turning a finished job into a value or a raised exception (keras-team/kinetic semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kinetic.model.errors import (
    IntegrityError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
)
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus
from kinetic.store import ObjectNotFound, layout
from kinetic.wire.framing import load_framed
from kinetic.wire.payload import ResultEnvelope, rebuild_exception

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle


def read_envelope(handle: JobHandle, state: JobState, verify: bool = True) -> ResultEnvelope | None:
    backend = handle._backend
    expected = backend.expected_result_sha256(handle, state)
    key = layout.result_key(handle.job_id, handle._attempt(None, state))
    if expected is None and verify and backend.vouches_for_results:
        if not handle._store.exists(key):
            return None
        raise IntegrityError(unverifiable_message(handle.job_id, key))
    try:
        return load_framed(handle._store, key, expected)
    except ObjectNotFound:
        return None


def unverifiable_message(job_id: str, key: str) -> str:
    return (
        f"refusing to unpickle {key}: nothing outside the store vouches for it any more "
        f"(job {job_id}'s KineticJob, which recorded its SHA-256, is gone: cleanup(k8s=True)), "
        "and anyone with the job's store credentials could have rewritten it. "
        "result(verify=False) reads it anyway, on the store's word"
    )


# Reasons the runner itself gives when it stops a job; they win over what the job's own
# exit (a signal's code, an interrupt) would say.
STOPPED_BY_RUNNER = frozenset({Reason.DEADLINE, Reason.OOM})


def collect(handle: JobHandle, state: JobState, verify: bool = True) -> Any:
    """The value of a SUCCEEDED job; otherwise raise what best explains the outcome."""
    if state.status == JobStatus.CANCELLED:
        raise JobCancelledError(handle.job_id)
    envelope = read_envelope(handle, state, verify)
    if state.status == JobStatus.NOT_FOUND and envelope is None:
        raise JobNotFoundError(handle.job_id, handle.store)
    if envelope is not None and envelope.success and state.status != JobStatus.FAILED:
        return envelope.value
    if state.status == JobStatus.FAILED and state.reason in STOPPED_BY_RUNNER:
        # The runner stopped the job (its timeout, its memory limit): that is the story,
        # told as status() tells it, not the signal's exit code the job saw on its way out.
        message = state.message
        if handle.command:
            message = f"{message}; its last lines:\n{_last_lines(handle, state)}"
        raise JobFailedError(handle.job_id, state.reason, message, state.exit_code)
    if envelope is not None and not envelope.success:
        if envelope.exception_type and envelope.reason != Reason.RESULT_NOT_SERIALIZABLE:
            raise rebuild_exception(envelope, handle.job_id)
        message = envelope.message
        if handle.command:  # the end of its output says more than its exit code
            message = f"{message}; its last lines:\n{_last_lines(handle, state)}"
        raise JobFailedError(handle.job_id, envelope.reason, message, envelope.exit_code)
    # A FAILED job never returns a value, even if a result was somehow written.
    raise JobFailedError(handle.job_id, state.reason, state.message, state.exit_code)


def _last_lines(handle: JobHandle, state: JobState) -> str:
    from kinetic.client.log_reader import tail

    return tail(handle._store, handle.job_id, 20, handle._attempt(None, state))
