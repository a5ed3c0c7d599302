"""What travels to a job and back: the payload and the result envelope.

The caller builds a Payload (kinetic.client.pickling frames it); the job's worker answers
with a ResultEnvelope, whose exception is pickled on its own so that a type missing in the
caller does not make the whole envelope unreadable (rebuild_exception).
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Payload:
    function: Callable[..., Any] | None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Values captured from the caller's environment (capture_env); kept out of handle.json.
    captured_env: dict[str, str] = field(default_factory=dict)
    # The caller's versions and cwd, and the project shipped with working_dir=.
    client: dict[str, Any] = field(default_factory=dict)
    # A command to run instead of a function (kinetic.submit), and files for the job's
    # working directory: name -> (content, mode).
    command: list[str] | None = None
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)


@dataclass
class ResultEnvelope:
    success: bool
    value: Any = None
    phase: str = "run"
    reason: str | None = None
    message: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    # The exception is pickled on its own so that an exception type missing here does not
    # make the whole envelope unreadable.
    exception_pickle: bytes | None = None
    traceback: str | None = None
    exit_code: int | None = None


# -- the result envelope -------------------------------------------------------------------
def failure_envelope(exc: BaseException, phase: str, reason: str) -> ResultEnvelope:
    import cloudpickle

    try:
        exc_bytes = cloudpickle.dumps(exc)
    except Exception:
        exc_bytes = None  # its type and text still travel; the client raises RemoteError
    return ResultEnvelope(
        success=False,
        phase=phase,
        reason=reason,
        message=f"{type(exc).__name__}: {exc}",
        exception_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        exception_message=str(exc),
        exception_pickle=exc_bytes,
        traceback="".join(traceback.format_exception(exc)),
    )


def rebuild_exception(envelope: ResultEnvelope, job_id: str) -> BaseException:
    """The job's own exception, with the remote traceback as a PEP 678 note."""
    from kinetic.model.errors import RemoteError

    note = f"Remote traceback (job {job_id}, phase {envelope.phase}):\n{envelope.traceback or ''}"
    exc: BaseException | None = None
    if envelope.exception_pickle is not None:
        try:
            exc = pickle.loads(envelope.exception_pickle)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(
            job_id,
            envelope.exception_type or "Exception",
            envelope.exception_message or envelope.message or "",
            envelope.traceback or "",
        )
    exc.add_note(note.rstrip())
    return exc
