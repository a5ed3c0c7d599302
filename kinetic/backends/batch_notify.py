"""notify= on a local batch: its driver posts ONE summary when the batch ends.

Where it sits: the local batch supervisor (kinetic.backends.batch_supervisor) calls
``notify_batch_end`` once it has recorded the batch's end (done.json) and no retry is
waiting, so the summary arrives with no process of the caller's alive. The URLs are the
ones the submission kept on this machine (kinetic.system.notify_keep: never the store);
the summary is kinetic.wire.batch_notification's; each URL is posted with
kinetic.wire.webhook's bounded retries, at once, in parallel; the outcomes (hosts only) go
to ``batches/ID/notifications.json``, tagged with the number of retry_failed() rounds
they belong to, so a batch run again after retry_failed() sends a summary of its new end.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

from kinetic.backends.local import LocalBackend
from kinetic.backends.local_batch import item_record
from kinetic.model.batch_record import BatchRecord, count_statuses
from kinetic.model.errors import StorageError
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.store import ObjectNotFound, Store, layout
from kinetic.system import notify_keep
from kinetic.wire.batch_notification import (
    batch_body_for,
    batch_status_command,
    build_batch_notification,
)
from kinetic.wire.notification import Delivery, wanted
from kinetic.wire.webhook import deliver, post_to_all


def read_notifications(store: Store, batch_id: str) -> dict[str, Any] | None:
    """``{"retries": N, "notifications": [records]}``, or None before any summary."""
    try:
        found: dict[str, Any] = json.loads(
            store.read_bytes(layout.batch_notifications_key(batch_id))
        )
        return found
    except (ObjectNotFound, ValueError):
        return None


def summary_of(store: Store, record: BatchRecord) -> dict[str, Any]:
    """The batch's summary from its items' states as the store has them now."""
    backend = LocalBackend()
    states: list[JobState] = []
    failed: list[int] = []
    stopped = "Cancelled" if store.exists(layout.batch_cancel_key(record.batch_id)) else None
    for index in range(record.count):
        job = item_record(store, record.batch_id, index)
        if job is None:
            continue  # collected (cleanup): nothing left to count
        state = backend.state(job)
        states.append(state)
        if state.status == JobStatus.FAILED:
            failed.append(index)
        if stopped is None and state.reason == Reason.BATCH_STOPPED:
            stopped = Reason.BATCH_STOPPED.value
    created = parse_time(record.created)
    now = utcnow()
    return build_batch_notification(
        batch_id=record.batch_id, function=record.function, name=record.name,
        total=record.count, counts=count_statuses(states), failed=failed,
        duration=(now - created).total_seconds() if created else None,
        finished=format_time(now), stopped=stopped,
        status_cmd=batch_status_command(record.batch_id, store.uri),
    )  # fmt: skip


def notify_batch_end(
    store: Store, record: BatchRecord, rounds: int, post: Callable[..., Delivery] = deliver
) -> list[dict[str, Any]] | None:
    """Post the batch's summary if it wants one for this end; the outcome records (None:
    nothing to post). Never raises: the batch has ended whatever a receiver does."""
    if not record.notify_hosts:
        return None
    earlier = read_notifications(store, record.batch_id)
    done = (earlier or {}).get("notifications") or []
    if (earlier or {}).get("retries") == rounds and any(
        r.get("outcome") != "sending" for r in done
    ):
        return None  # this end was posted already (an earlier generation of the driver)
    note = summary_of(store, record)
    if not wanted(record.notify_on, note["status"]):
        return None
    _record(store, record.batch_id, rounds,
            [Delivery(h, "sending").to_dict() for h in record.notify_hosts])  # fmt: skip
    urls = notify_keep.kept(store.uri, record.batch_id)
    if not urls:
        why = "the notify URLs are not kept on this machine (submitted elsewhere, or cleaned up)"
        results = [Delivery(h, "failed", 0, None, why) for h in record.notify_hosts]
    else:
        results = post_to_all(urls, lambda url: batch_body_for(url, note), post)
    for result in results:
        print(f"[kinetic] batch {record.batch_id}: summary to {result.host}: {result.outcome}"
              + (f" ({result.error})" if result.error else ""), file=sys.stderr)  # fmt: skip
    records = [r.to_dict() for r in results]
    _record(store, record.batch_id, rounds, records)
    return records


def _record(store: Store, batch_id: str, rounds: int, records: list[dict[str, Any]]) -> None:
    body = {"retries": rounds, "notifications": records, "at": format_time(utcnow())}
    with contextlib.suppress(StorageError):  # cleaned up meanwhile: nothing to record in
        if store.exists(layout.batch_key(batch_id)):
            store.write_bytes(layout.batch_notifications_key(batch_id), json.dumps(body).encode())
