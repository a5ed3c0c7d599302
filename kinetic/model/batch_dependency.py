"""A batch (f.run_async_map) as one dependency of a job: its items' records → one view. Pure.

Where it sits: a job may depend on a whole batch (a BatchHandle in its arguments, or in
``depends_on``). The local runner (kinetic.job.dependency_wait) and the operator
(kinetic_operator.dependency_gate) each read the batch's end and its items' records, and
ask ``batch_view`` for the one ``DependencyView`` that ``judge``
(kinetic.model.dependency_verdict) weighs like a job's: waiting until the batch has ended;
then SUCCEEDED with every item's result (``{"batch": [[attempt, sha256], ...]}``, in input
order), or FAILED naming the items that did not succeed, by index.
"""

from __future__ import annotations

from kinetic.model.dependency_verdict import DependencyView
from kinetic.model.status import JobStatus

INDEXES_SHOWN = 20  # a failure names this many indexes of each kind, then "…"


def waiting_batch(batch_id: str, progress: str | None = None) -> DependencyView:
    """A batch that has not ended yet (``progress``: its counts, if known)."""
    return DependencyView(batch_id, JobStatus.PENDING, kind="batch", message=progress)


def batch_view(batch_id: str, items: list[DependencyView], attempts: list[int]) -> DependencyView:
    """An ended batch (its driver says nothing runs or waits any more) as one dependency;
    ``items`` (and the attempt each result is of) in input order."""
    bad: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if item.status != JobStatus.SUCCEEDED:
            what = {JobStatus.CANCELLED: "cancelled", JobStatus.NOT_FOUND: "gone"}.get(
                item.status, "failed"
            )
            bad.setdefault(what, []).append(index)
        elif not (item.result and item.result.get("sha256")):
            bad.setdefault("without a result", []).append(index)
    if bad:
        parts = [f"{_indexes(found)} {what}" for what, found in bad.items()]
        first = next(i for i in items if i.status != JobStatus.SUCCEEDED or not i.result)
        cause = ": ".join(filter(None, [first.reason, first.message]))
        message = "; ".join(parts) + (f"; the first: {cause}" if cause else "")
        return DependencyView(batch_id, JobStatus.FAILED, kind="batch", message=message)
    pairs = [[attempt, (item.result or {})["sha256"]]
             for item, attempt in zip(items, attempts, strict=True)]  # fmt: skip
    return DependencyView(batch_id, JobStatus.SUCCEEDED, kind="batch", result={"batch": pairs})


def _indexes(found: list[int]) -> str:
    shown = ", ".join(str(i) for i in found[:INDEXES_SHOWN])
    more = f" and {len(found) - INDEXES_SHOWN} more" if len(found) > INDEXES_SHOWN else ""
    return f"item{'s' if len(found) > 1 else ''} {shown}{more}"
