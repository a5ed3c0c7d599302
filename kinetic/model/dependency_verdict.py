"""Whether a job may start, from what its dependencies' records say. Pure.

Where it sits: the local runner (kinetic.job.dependency_wait) builds a ``DependencyView``
from each dependency's state.json; the operator builds one from each dependency's
KineticJob status. Both ask ``judge``: start now (every dependency SUCCEEDED, each result's
key and digest known), wait (naming what for), or end the job CANCELLED with reason
``DependencyFailed`` naming the dependency that failed or was cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus

MESSAGE_LIMIT = 400  # a dependency's own message, quoted in the dependent's
WAITING_SHOWN = 10  # dependencies a waiting message names (then "and N more")


@dataclass(frozen=True)
class DependencyView:
    """One dependency as its record shows it now."""

    job_id: str
    status: JobStatus
    reason: str | None = None
    message: str | None = None
    # {"key": store key of result.pkl, "sha256": its digest}: the value's place, vouched for
    # (a batch's: {"batch": [[attempt, sha256], ...]}, kinetic.model.batch_dependency).
    result: dict[str, Any] | None = None
    kind: str = "job"  # or "batch": a batch of jobs (f.run_async_map), as one dependency


@dataclass(frozen=True)
class Verdict:
    ready: bool = False  # every dependency succeeded: start, with ``results``
    failed: bool = False  # one failed or was cancelled: end with ``reason``/``message``
    reason: str | None = None
    message: str | None = None
    waiting_for: tuple[str, ...] = ()
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def judge(views: list[DependencyView]) -> Verdict:
    """The verdict for a job whose dependencies look like ``views`` (in its order)."""
    for view in views:
        if view.status.is_terminal and view.status != JobStatus.SUCCEEDED:
            return Verdict(failed=True, reason=Reason.DEPENDENCY_FAILED,
                           message=failure_message(view))  # fmt: skip
    for view in views:
        if view.status == JobStatus.SUCCEEDED and not _valid(view.result):
            message = f"dependency {view.job_id} succeeded but recorded no result to pass on"
            return Verdict(failed=True, reason=Reason.DEPENDENCY_FAILED, message=message)
    waiting = tuple(v.job_id for v in views if v.status != JobStatus.SUCCEEDED)
    if waiting:
        names = tuple(_waiting_name(v) for v in views if v.status != JobStatus.SUCCEEDED)
        return Verdict(reason=Reason.WAITING_FOR_DEPENDENCIES, message=waiting_message(names),
                       waiting_for=waiting)  # fmt: skip
    return Verdict(ready=True, results={v.job_id: dict(v.result or {}) for v in views})


def waiting_message(waiting: tuple[str, ...]) -> str:
    """``waiting for a, b``; a long list is cut (``… and 190 more``): the message is
    written into a fan-in's status at each upstream's end, so it stays small."""
    shown = ", ".join(waiting[:WAITING_SHOWN])
    more = len(waiting) - WAITING_SHOWN
    return f"waiting for {shown}" + (f" and {more} more" if more > 0 else "")


def _waiting_name(view: DependencyView) -> str:
    if view.kind != "batch":
        return view.job_id
    return f"batch {view.job_id}" + (f" ({view.message})" if view.message else "")


def failure_message(view: DependencyView) -> str:
    what = "was cancelled" if view.status == JobStatus.CANCELLED else "failed"
    if view.status == JobStatus.NOT_FOUND:
        what = "is gone (its records were cleaned up)"
    detail = ": ".join(filter(None, [view.reason, view.message]))
    if len(detail) > MESSAGE_LIMIT:
        detail = detail[: MESSAGE_LIMIT - 1] + "…"
    name = f"batch {view.job_id}" if view.kind == "batch" else view.job_id
    return f"dependency {name} {what}" + (f" ({detail})" if detail else "")


def _valid(result: dict[str, Any] | None) -> bool:
    if result and isinstance(result.get("batch"), list):
        return all(isinstance(pair, list | tuple) and len(pair) == 2 and pair[1]
                   for pair in result["batch"])  # fmt: skip
    return bool(result and isinstance(result.get("key"), str) and result.get("sha256"))
