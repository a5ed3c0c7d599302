"""A batch's end as ONE notification: the summary posted to each ``notify=`` URL (pure).

Where it sits: the local batch supervisor (kinetic.backends.batch_supervisor, through
kinetic.backends.batch_notify) and the operator's batch driver
(kinetic_operator.batch_notifier) build the summary here when a batch has ended — nothing
waits, nothing runs — and post it with kinetic.wire.webhook, as a job's end is
(kinetic.wire.notification, whose Delivery records and host-only rules apply unchanged).
The items of a batch never notify on their own: the batch takes their ``notify=``.

The message::

    {"kinetic": 1, "kind": "batch", "event": "failed", "batch_id": "…", "name": "…",
     "function": "mod.fn", "status": "FAILED", "total": 100,
     "counts": {"SUCCEEDED": 97, "FAILED": 3}, "failed_indexes": [4, 17, 60],
     "failed_more": 0, "stopped": null, "duration_s": 812.4, "finished": "2026-…Z",
     "status_command": "kinetic batches status ID --store …"}

``failed_indexes`` is bounded (the first ``FAILED_INDEXES`` failed items; ``failed_more``
says how many more). A Slack webhook gets Slack's shape (``text`` and ``blocks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kinetic.wire.notification import (
    FORMAT_VERSION,
    SLACK_EMOJI,
    event_of,
    is_slack,
    mrkdwn,
    slack_message,
)

FAILED_INDEXES = 20  # how many failed items a summary names


def batch_status(counts: Mapping[str, int], stopped: str | None = None) -> str:
    """A finished batch's status from its items' counts: CANCELLED if it was cancelled,
    FAILED if an item failed or was cancelled (or fail_fast stopped it), else SUCCEEDED."""
    if stopped == "Cancelled":
        return "CANCELLED"
    if counts.get("FAILED") or counts.get("CANCELLED") or stopped:
        return "FAILED"
    return "SUCCEEDED"


def build_batch_notification(
    *,
    batch_id: str,
    function: str,
    total: int,
    counts: Mapping[str, int],
    failed: Iterable[int],
    duration: float | None,
    finished: str | None,
    status_cmd: str,
    name: str | None = None,
    stopped: str | None = None,
) -> dict[str, Any]:
    """The JSON summary of a batch's end (see the module docstring)."""
    failed_sorted = sorted(set(failed))
    status = batch_status(counts, stopped)
    return {
        "kinetic": FORMAT_VERSION,
        "kind": "batch",
        "event": event_of(status),
        "batch_id": batch_id,
        "name": name,
        "function": function,
        "status": status,
        "total": int(total),
        "counts": {k: int(v) for k, v in counts.items() if v},
        "failed_indexes": failed_sorted[:FAILED_INDEXES],
        "failed_more": max(0, len(failed_sorted) - FAILED_INDEXES),
        "stopped": stopped,
        "duration_s": None if duration is None else round(duration, 3),
        "finished": finished,
        "status_command": status_cmd,
    }


def batch_status_command(batch_id: str, store: str | None = None) -> str:
    return f"kinetic batches status {batch_id}" + (f" --store {store}" if store else "")


def slack_batch_body(note: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format of a batch summary."""
    title = note.get("name") or note["batch_id"]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in (note.get("counts") or {}).items())
    headline = f"Kinetic batch {title} {note.get('event') or note['status']}: {counts}"
    blocks: list[dict[str, Any]] = [
        mrkdwn(f"{SLACK_EMOJI.get(note.get('event') or '', '')} *{headline}*"),
        mrkdwn(f"*function* `{note['function']}`  ·  *items* {note['total']}"
                + (f"  ·  *stopped* {note['stopped']}" if note.get("stopped") else "")),
    ]  # fmt: skip
    if note.get("failed_indexes"):
        more = f" and {note['failed_more']} more" if note.get("failed_more") else ""
        shown = ", ".join(str(i) for i in note["failed_indexes"])
        blocks.append(mrkdwn(f"*failed items* {shown}{more}"))
    return slack_message(headline, blocks, note["status_command"])


def batch_body_for(url: str, note: Mapping[str, Any]) -> dict[str, Any]:
    return slack_batch_body(note) if is_slack(url) else dict(note)
