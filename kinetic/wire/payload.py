"""What travels to a job and back: the payload and the result envelope.

The caller builds a Payload (kinetic.client.pickling frames it); the job's worker answers
with a ResultEnvelope, whose exception is pickled on its own so that a type missing in the
caller does not make the whole envelope unreadable (rebuild_exception).
"""

from __future__ import annotations

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
    # The exception and its chain in parts (kinetic.wire.remote_exception), so that a type
    # missing here, or an __init__ taking other arguments, costs only what it must.
    exception_record: dict[str, Any] | None = None
    traceback: str | None = None
    exit_code: int | None = None


# -- the result envelope -------------------------------------------------------------------
def format_traceback(exc: BaseException, skip: int = 0) -> str:
    """The traceback as ``python script.py`` prints it, without the first ``skip`` frames
    (the job's own machinery, above the user's function)."""
    tb = exc.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def failure_envelope(
    exc: BaseException,
    phase: str,
    reason: str,
    *,
    secrets: list[str] = (),  # type: ignore[assignment]
    skip_frames: int = 0,
) -> ResultEnvelope:
    """The envelope of a job that raised ``exc``; ``secrets`` are masked in all of it."""
    from kinetic.wire.remote_exception import record_exception
    from kinetic.wire.secret_mask import mask_text

    def mask(text: str) -> str:
        return mask_text(text, secrets)

    return ResultEnvelope(
        success=False,
        phase=phase,
        reason=reason,
        message=mask(f"{type(exc).__name__}: {exc}"),
        exception_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        exception_message=mask(str(exc)),
        exception_record=record_exception(exc, mask, secrets),
        traceback=mask(format_traceback(exc, skip_frames)),
    )


def rebuild_exception(envelope: ResultEnvelope, job_id: str) -> BaseException:
    """The job's own exception (its class, args, attributes and chain), with the remote
    traceback as a PEP 678 note; a RemoteError where its class cannot be had here."""
    from kinetic.model.errors import RemoteError
    from kinetic.wire.remote_exception import rebuild

    def remote(part: dict[str, Any]) -> BaseException:
        top = part is record
        return RemoteError(
            job_id,
            part.get("type") or envelope.exception_type or "Exception",
            part.get("message") or (envelope.exception_message or envelope.message or ""),
            (envelope.traceback or "") if top else "",
        )

    record = envelope.exception_record or {"type": envelope.exception_type,
                                           "message": envelope.exception_message}  # fmt: skip
    exc = rebuild(record, remote) or remote(record)
    note = f"Remote traceback (job {job_id}, phase {envelope.phase}):\n{envelope.traceback or ''}"
    exc.add_note(note.rstrip())
    return exc
