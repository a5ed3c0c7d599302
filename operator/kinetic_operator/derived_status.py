"""DerivedStatus: what a KineticJob's ``.status`` should say, as one frozen value (pure).

Where it sits: reconcile.py derives one from a Job and its pods (pod_status.py reads each
pod), decisions.py turns it into the status patch, and ``from_status`` reads a written
``.status`` back (a finished job's stays as it finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinetic.model.status import JobStatus
from kinetic.wire.termination import valid_resources, valid_result
from kinetic_operator.objects import Obj

MESSAGE_LIMIT = 2048  # keep the CR small; scheduler messages can be long
# DerivedStatus field → camelCase key in the KineticJob's .status
_PATCH_KEYS = {
    **{k: k for k in ("phase", "reason", "message", "attempts", "result", "resources")},
    **{"started": "startTime", "finished": "completionTime", "pod_name": "podName"},
    **{"node_name": "nodeName", "exit_code": "exitCode"},
}


@dataclass(frozen=True)
class DerivedStatus:
    """What the KineticJob's `.status` should say. `phase` is a `JobStatus` value."""

    phase: str
    reason: str | None = None
    message: str | None = None
    started: str | None = None
    finished: str | None = None
    attempts: int = 0
    pod_name: str | None = None
    node_name: str | None = None
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    # What the job used, from the runner's termination message (kinetic.job.container_use).
    resources: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return JobStatus(self.phase).is_terminal

    def to_patch(self) -> dict[str, Any]:
        """The camelCase `.status` body. None values are kept: in a merge patch they
        remove stale fields (an old `Unschedulable` reason once the pod runs)."""
        return {key: getattr(self, name) for name, key in _PATCH_KEYS.items()}

    @classmethod
    def from_status(cls, status: Obj) -> DerivedStatus:
        """Read back a `.status` written by `to_patch` (unknown keys ignored)."""
        values: dict[str, Any] = {name: status.get(key) for name, key in _PATCH_KEYS.items()}
        values.update(phase=str(values["phase"] or JobStatus.PENDING.value))
        values.update(attempts=int(values["attempts"] or 0))
        resources = valid_resources(values["resources"])
        return cls(**{**values, "result": valid_result(values["result"]), "resources": resources})


def status_of(
    phase: JobStatus, reason: str | None, message: str | None, **kw: Any
) -> DerivedStatus:
    return DerivedStatus(phase=phase.value, reason=reason, message=message or None, **kw)


def truncate(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[: MESSAGE_LIMIT - 1] + "…" if len(text) > MESSAGE_LIMIT else text or None
