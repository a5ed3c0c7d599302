"""WorkerReport: what the worker tells the supervisor about how the function ended.

The worker (kinetic.job.worker) writes it to a pipe as its last act; the supervisor reads
it while the worker runs and hands it to ``conclude`` (kinetic.model.outcome). It is typed,
frozen and bounded: an exception message of any size must not block the worker on a full
pipe nor bloat the job's state, so the message is cut here (the whole exception is in the
result envelope in the store, which ``result()`` re-raises).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# What the state's message keeps of an exception's message (the termination message of a
# pod is 4 KiB in all, so more would be cut there anyway).
MAX_MESSAGE = 4096
# Anything longer on the pipe is not a report of ours.
MAX_REPORT_BYTES = 64 * 1024


@dataclass(frozen=True)
class WorkerReport:
    success: bool
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    exception_type: str | None = None
    exit_code: int | None = None
    # Where the result envelope was stored: {"uri", "size", "sha256"}, if it was.
    result: dict[str, Any] | None = field(default=None)
    # The job was asked to stop while its function ran (so a success is a cooperative stop).
    cancel_seen: bool = False

    def __post_init__(self) -> None:
        if self.message is not None and len(self.message) > MAX_MESSAGE:
            cut = len(self.message) - MAX_MESSAGE
            text = (
                f"{self.message[:MAX_MESSAGE]}… ({cut} more characters; "
                "result() re-raises the whole exception)"
            )
            object.__setattr__(self, "message", text)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> WorkerReport | None:
        """The report, or None if there is none (the worker died before saying anything)."""
        if not data or len(data) > MAX_REPORT_BYTES:
            return None
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)
