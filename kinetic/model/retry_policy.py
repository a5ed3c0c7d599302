"""Retrying failed attempts: which failures count, how many, and how long to wait. Pure.

Two budgets, each of ``retries`` attempts, counted apart so a flaky node does not use up
the retries a flaky function was given (and the other way round):

* **infrastructure** failures — the job's code did nothing wrong: ``Evicted``,
  ``Preempted``, ``Lost`` (the runner or its node vanished). Retried whenever ``retries``
  is set.
* **the job's own** failures — ``UserError`` (it raised), ``Error`` (a command's non-zero
  exit), ``OOMKilled``, ``Killed``, ``Crashed``: retried only with ``retry_on_error=True``,
  since running broken code again usually fails again (and may repeat side effects).

Anything else is final: a cancel, a timeout (``DeadlineExceeded``: the timeout bounds each
attempt, and a retry would not make it fit), a payload that cannot load, a refused spec.

The wait before attempt ``n + 1`` is ``retry_backoff * 2 ** (n - 1)`` seconds, capped at
``MAX_BACKOFF``: 10 s, 20 s, 40 s … by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.model.reasons import Reason
from kinetic.model.spec_record import SpecRecord
from kinetic.model.status import JobState, JobStatus, format_time

MAX_RETRIES = 20
MAX_BACKOFF = 600.0
DEFAULT_BACKOFF = 10.0

INFRASTRUCTURE = "infrastructure"
JOB_ERROR = "error"
INFRASTRUCTURE_REASONS = frozenset({Reason.EVICTED, Reason.PREEMPTED, Reason.LOST})
JOB_ERROR_REASONS = frozenset(
    {Reason.USER_ERROR, Reason.EXIT_CODE, Reason.OOM, Reason.KILLED, Reason.CRASHED}
)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0
    backoff: float = DEFAULT_BACKOFF
    on_error: bool = False

    @classmethod
    def from_spec(cls, spec: SpecRecord) -> RetryPolicy:
        """From a stored JobSpec (``retries``, ``retry_backoff``, ``retry_on_error``); a
        KineticJob's: kinetic.k8s.kineticjob_body.retry_policy_of."""
        return cls(
            retries=int(spec.get("retries") or 0),
            backoff=float(spec.get("retry_backoff", DEFAULT_BACKOFF)),
            on_error=bool(spec.get("retry_on_error", False)),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after attempt ``attempt`` (1-based) failed."""
        return float(min(self.backoff * 2 ** max(0, attempt - 1), MAX_BACKOFF))


def failure_kind(reason: str | None) -> str | None:
    """``INFRASTRUCTURE``, ``JOB_ERROR``, or None for a failure that is never retried."""
    if reason in INFRASTRUCTURE_REASONS:
        return INFRASTRUCTURE
    if reason in JOB_ERROR_REASONS:
        return JOB_ERROR
    return None


def should_retry(policy: RetryPolicy, reason: str | None, previous: list[dict[str, Any]]) -> bool:
    """Whether an attempt that failed with ``reason`` gets another one.

    ``previous`` holds the records of the attempts that failed before it (each with its
    ``reason``), so each budget counts only its own kind. An attempt a batch's
    ``retry_failed()`` queued again is marked ``requeued``: it and those before it do not
    count, so the item gets its whole budget again.
    """
    kind = failure_kind(reason)
    if kind is None or policy.retries <= 0 or (kind == JOB_ERROR and not policy.on_error):
        return False
    fresh = max((i for i, r in enumerate(previous) if r.get("requeued")), default=-1) + 1
    used = sum(failure_kind(r.get("reason")) == kind for r in previous[fresh:])
    return used < policy.retries


def attempt_record(
    attempt: int,
    *,
    reason: str | None,
    message: str | None,
    started: str | None,
    finished: str | None,
    node: str | None = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """How one attempt ended, as ``JobState.previous_attempts`` holds it (ISO times)."""
    record = {
        "attempt": attempt,
        "reason": reason,
        "message": message,
        "started": started,
        "finished": finished,
        "node": node,
        "exit_code": exit_code,
    }
    return {k: v for k, v in record.items() if v is not None}


def retry_at(policy: RetryPolicy, attempt: int, now: datetime) -> datetime:
    return now + timedelta(seconds=policy.delay(attempt))


def check_retry_options(
    retries: object, backoff: object, on_error: object
) -> tuple[int, float, bool]:
    """Validated ``(retries, retry_backoff, retry_on_error)``."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise SpecError("retries", retries, f"an integer from 0 to {MAX_RETRIES}")
    number = isinstance(backoff, int | float) and not isinstance(backoff, bool)
    if not number or not 0 <= backoff <= MAX_BACKOFF:  # type: ignore[operator]
        raise SpecError("retry_backoff", backoff, f"seconds from 0 to {MAX_BACKOFF:g}")
    if not isinstance(on_error, bool):
        raise SpecError("retry_on_error", on_error, "True or False")
    return retries, float(backoff), on_error  # type: ignore[arg-type]


def waiting_for_retry(
    policy: RetryPolicy,
    state: JobState,
    reason: str | None,
    message: str | None,
    now: datetime,
    created: datetime | None,
) -> tuple[JobState, str]:
    """The state of a job whose attempt ``state.attempts`` failed with ``reason`` and gets
    another one: PENDING/Retrying until its backoff ends, the failed attempt recorded.
    Also returns when the next attempt starts (ISO UTC), for whoever starts it."""
    attempt = max(1, state.attempts)
    record = attempt_record(
        attempt,
        reason=reason,
        message=message,
        started=format_time(state.started),
        finished=format_time(now),
        node=state.node,
    )
    when = format_time(retry_at(policy, attempt, now)) or ""
    waiting = JobState(
        JobStatus.PENDING,
        reason=Reason.RETRYING,
        message=f"attempt {attempt} failed ({reason}); starts at {when}",
        created=state.created or created,
        attempts=attempt + 1,
        previous_attempts=[*state.previous_attempts, record],
    )
    return waiting, when
