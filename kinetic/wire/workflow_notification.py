"""A workflow's end as ONE notification: the summary posted to its ``notify:`` URLs (pure).

Where it sits: a workflow has no process of its own, so the last of its jobs to end sends
the summary — the local runner (kinetic.job.workflow_summary) once it has written its own
terminal record. Each member carries its membership (``JobRecord.workflow``: the
workflow's id, generation and every member's id, by name), reads its fellows' states, and
when all have ended builds the summary here and posts it with kinetic.wire.webhook, as a
job's end is (kinetic.wire.notification: Delivery records, hosts only). The jobs of a
workflow with a summary never notify on their own.

The message::

    {"kinetic": 1, "kind": "workflow", "event": "failed", "workflow_id": "…",
     "name": "nightly", "generation": 0, "status": "FAILED", "total": 3,
     "counts": {"SUCCEEDED": 1, "FAILED": 1, "CANCELLED": 1},
     "jobs": [{"name": "a", "job_id": "…", "status": "FAILED", "reason": "UserError"}, …],
     "jobs_more": 0, "duration_s": 81.2, "finished": "2026-…Z",
     "status_command": "kinetic workflow status ID --store …"}

``jobs`` is bounded (the first ``JOBS_SHOWN`` in the workflow's order; ``jobs_more`` says
how many more). A Slack webhook gets Slack's shape (``text`` and ``blocks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kinetic.model.status import JobStatus
from kinetic.wire.notification import (
    FORMAT_VERSION,
    SLACK_EMOJI,
    event_of,
    is_slack,
    mrkdwn,
    slack_message,
)

JOBS_SHOWN = 50  # how many jobs a summary lists, each with its status and reason
REASON_CHARS = 200  # a reason is a word; bounded all the same (it is the job's record)


def all_ended(statuses: Iterable[JobStatus | None]) -> bool:
    """Whether every member has ended (None: a member with no terminal record yet)."""
    return all(s is not None and s.is_terminal for s in statuses)


def workflow_outcome(statuses: Iterable[JobStatus]) -> str:
    """An ended workflow's status: FAILED if a job failed (or has no record left), else
    CANCELLED if one was cancelled, else SUCCEEDED (as WorkflowHandle's phase says)."""
    found = set(statuses)
    if JobStatus.FAILED in found or JobStatus.NOT_FOUND in found:
        return JobStatus.FAILED.value
    if JobStatus.CANCELLED in found:
        return JobStatus.CANCELLED.value
    return JobStatus.SUCCEEDED.value


def build_workflow_notification(
    *,
    workflow_id: str,
    name: str,
    generation: int,
    jobs: list[tuple[str, str, JobStatus, str | None]],
    duration: float | None,
    finished: str | None,
    status_cmd: str,
) -> dict[str, Any]:
    """The JSON summary of a workflow's end; ``jobs``: (name, job id, status, reason) in
    the workflow's order (see the module docstring)."""
    status = workflow_outcome(s for _, _, s, _ in jobs)
    counts: dict[str, int] = {}
    for _, _, job_status, _ in jobs:
        counts[job_status.value] = counts.get(job_status.value, 0) + 1
    listed = [
        {"name": n, "job_id": i, "status": s.value, "reason": (r or None) and str(r)[:REASON_CHARS]}
        for n, i, s, r in jobs[:JOBS_SHOWN]
    ]
    return {
        "kinetic": FORMAT_VERSION,
        "kind": "workflow",
        "event": event_of(status),
        "workflow_id": workflow_id,
        "name": name,
        "generation": int(generation),
        "status": status,
        "total": len(jobs),
        "counts": counts,
        "jobs": listed,
        "jobs_more": max(0, len(jobs) - JOBS_SHOWN),
        "duration_s": None if duration is None else round(duration, 3),
        "finished": finished,
        "status_command": status_cmd,
    }


def workflow_status_command(workflow_id: str, store: str | None = None) -> str:
    return f"kinetic workflow status {workflow_id}" + (f" --store {store}" if store else "")


def slack_workflow_body(note: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format of a workflow summary."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in (note.get("counts") or {}).items())
    headline = f"Kinetic workflow {note['name']} {note.get('event') or note['status']}: {counts}"
    lines = [
        f"`{j['name']}` {j['status']}" + (f" ({j['reason']})" if j.get("reason") else "")
        for j in note.get("jobs") or []
    ]
    if note.get("jobs_more"):
        lines.append(f"and {note['jobs_more']} more")
    blocks: list[dict[str, Any]] = [
        mrkdwn(f"{SLACK_EMOJI.get(note.get('event') or '', '')} *{headline}*"),
        mrkdwn("\n".join(lines)[:2900]),
    ]
    return slack_message(headline, blocks, note["status_command"])


def workflow_body_for(url: str, note: Mapping[str, Any]) -> dict[str, Any]:
    return slack_workflow_body(note) if is_slack(url) else dict(note)
