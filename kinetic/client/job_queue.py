"""The queue: every job not yet running, oldest first, with how long it has waited and why.

Where it sits: it lists PENDING jobs as ``kinetic.list_jobs`` does (the store's index for
the local and slurm backends, the cluster's KineticJobs for kubernetes) and turns each
state into a ``Waiting`` entry (``waiting``: pure). The why is the state's own reason and
message, so a reason added later (a dependency, a queue's admission) is shown as it comes:
Scheduled until T, Retrying at T, Unschedulable with the scheduler's message, an image
that cannot be pulled, Queued with the scheduler's message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from kinetic.model.job_record import JobRecord
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow

# Kinetic's waiting states say when the wait ends: "…; starts at 2026-12-01T09:00:00Z".
_STARTS_AT = re.compile(r"starts at (\S+?Z)\b")


@dataclass(frozen=True)
class Waiting:
    """One job in the queue."""

    job_id: str
    function: str
    backend: str
    reason: str | None
    message: str | None
    since: datetime | None  # when its wait began: submitted, or its last attempt ended
    waited: float | None  # seconds, at the time the queue was read
    until: datetime | None  # when it starts (a start_at or a retry's backoff), if known
    attempt: int  # the attempt it waits to run (1: its first)
    why: str  # one line: the reason, its time, the scheduler's message

    def to_dict(self) -> dict:
        return {"job_id": self.job_id, "function": self.function, "backend": self.backend,
                "reason": self.reason, "message": self.message, "since": format_time(self.since),
                "waited_seconds": self.waited, "until": format_time(self.until),
                "attempt": self.attempt, "why": self.why}  # fmt: skip


def waiting(record: JobRecord, state: JobState, now: datetime) -> Waiting:
    """The queue's entry for a PENDING job (pure)."""
    since = state.created or parse_time(record.created or None)
    if state.previous_attempts:  # a retry waits from the end of the attempt before it
        since = parse_time(state.previous_attempts[-1].get("finished")) or since
    until = _until(record, state)
    waited = max(0.0, (now - since).total_seconds()) if since else None
    return Waiting(record.job_id, record.function, record.backend, state.reason,
                   state.message, since, waited, until, max(1, state.attempts),
                   why(state, until))  # fmt: skip


def why(state: JobState, until: datetime | None) -> str:
    """The reason a job waits, in one line."""
    reason, message = state.reason, (state.message or "").strip().splitlines()
    detail = message[0] if message else ""
    if reason == Reason.SCHEDULED and until is not None:
        return f"Scheduled until {format_time(until)}"
    if reason == Reason.RETRYING and until is not None:
        failed = detail.split(";")[0]
        return f"Retrying at {format_time(until)}" + (f" ({failed})" if failed else "")
    if reason is None:
        return detail or "waiting"
    return f"{reason}: {detail}" if detail else str(reason)


def _until(record: JobRecord, state: JobState) -> datetime | None:
    found = _STARTS_AT.search(state.message or "")
    if found:
        try:
            return parse_time(found.group(1))
        except ValueError:
            pass
    if state.reason == Reason.SCHEDULED and state.attempts <= 1:
        return parse_time(record.spec.get("start_at"))
    return None


def queue(
    *,
    store: str | None = None,
    backend: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> list[Waiting]:
    """Every PENDING job, oldest wait first (the arguments as ``kinetic.list_jobs``'s)."""
    from kinetic.client.listing import list_jobs

    handles = list_jobs(store=store, status=JobStatus.PENDING, backend=backend,
                        namespace=namespace, all_namespaces=all_namespaces)  # fmt: skip
    now = utcnow()
    entries = [waiting(h, h.listed_state, now) for h in handles if h.listed_state is not None]
    # Ties of ``since`` broken by submission time: a KineticJob's creationTimestamp is
    # stamped to the second, the record's ``created`` to the microsecond.
    submitted = {h.job_id: h.created or "" for h in handles}
    return sorted(entries, key=lambda w: (w.since is None, w.since or now,
                                          submitted.get(w.job_id, ""), w.job_id))  # fmt: skip
