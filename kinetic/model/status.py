"""A job's status (the coarse phase) and state (the phase plus everything known about it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, overload

from kinetic.model.json_record import known_fields


class JobStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    NOT_FOUND = "NOT_FOUND"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change (NOT_FOUND included: nothing is left)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.NOT_FOUND}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def parse_time(value: str | datetime) -> datetime: ...
@overload
def parse_time(value: None) -> None: ...
@overload
def parse_time(value: str | datetime | None) -> datetime | None: ...
def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@overload
def format_time(value: datetime) -> str: ...
@overload
def format_time(value: None) -> None: ...
@overload
def format_time(value: datetime | None) -> str | None: ...
def format_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _copied(value: Any) -> Any:
    """A copy of a JSON-like value's containers (its leaves are immutable)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copied(v) for v in value]
    return value


@dataclass(frozen=True)
class JobState:
    """Everything known about a job at one moment. Backends build it; nothing mutates it
    (frozen: a changed view is a new value, ``dataclasses.replace(state, …)``)."""

    status: JobStatus
    reason: str | None = None
    message: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    attempts: int = 0  # the current attempt's number (1 once it started)
    # How the earlier attempts ended (kinetic.retries.attempt_record), oldest first.
    previous_attempts: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    progress: dict[str, Any] | None = None
    node: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds the job has run (so far, if it is still running)."""
        if self.started is None:
            return None
        end = self.finished or utcnow()
        return max(0.0, (end - self.started).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (nothing shared with this state). Not ``dataclasses.asdict``:
        it deep-copies every leaf and reads the fields each call, 10 times the cost here, and
        a listing's ``-o json`` converts 100,000 states."""
        values = self.__dict__
        data = {name: _copied(values[name]) for name in _STATE_FIELDS}
        data["status"] = self.status.value
        for name in ("created", "started", "finished"):
            data[name] = format_time(getattr(self, name))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        kwargs = known_fields(cls, data)
        kwargs["status"] = JobStatus(kwargs["status"])
        for name in ("created", "started", "finished"):
            kwargs[name] = parse_time(kwargs.get(name))
        return cls(**kwargs)


_STATE_FIELDS = tuple(f.name for f in fields(JobState))  # in order: to_dict's keys
