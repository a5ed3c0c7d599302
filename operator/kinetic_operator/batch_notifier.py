"""notify= on a KineticBatch: the operator posts the batch's ONE summary when it ends.

Where it sits: the batch driver (batch_driver.py) asks ``summary_due`` (pure) after each
sync whether a batch has just ended with ``spec.notify`` and no delivery done; if so it
records a ``sending`` entry per host in ``status.notifications``, builds the summary with
``summary_of`` (pure: the counts of the batch's status, the failed items the index shows,
kinetic.wire.batch_notification) and runs ``deliver_summary`` on a thread of its own:
the URLs come from the batch's Secret (BATCH_ID-env, key kinetic-notify-urls, owned by the
KineticBatch), each is posted with kinetic.wire.webhook's bounded retries, and the
outcomes (hosts only) are written back by the driver. The items never post on their own
(their template has no notify). At least once, as a job's notification (notifier.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kinetic.model.status import format_time, parse_time, utcnow
from kinetic.wire.batch_notification import (
    batch_body_for,
    batch_status_command,
    build_batch_notification,
)
from kinetic.wire.notification import Delivery, wanted
from kinetic.wire.webhook import deliver
from kinetic_operator.notifier import post_and_log, read_urls

if TYPE_CHECKING:
    from kinetic_operator.cluster import Cluster


_ENDS = ("SUCCEEDED", "FAILED", "CANCELLED")


def summary_due(spec: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether this batch's end is still to be posted (pure): it has ended, its
    ``notify.on`` wants that end, and no delivery has an outcome yet."""
    notify = spec.get("notify") or {}
    phase = status.get("phase") or ""
    if not notify.get("hosts") or phase not in _ENDS or not wanted(notify.get("on"), phase):
        return False
    return all(r.get("outcome") == "sending" for r in status.get("notifications") or [])


def sending(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [Delivery(h, "sending").to_dict() for h in spec["notify"]["hosts"]]


def summary_of(
    batch: Mapping[str, Any], status: Mapping[str, Any], failed: Iterable[int]
) -> dict[str, Any]:
    """The summary of an ended KineticBatch (pure): its status's counts (items never
    created because it stopped count as cancelled, as the local driver records them)."""
    spec, meta = batch["spec"], batch["metadata"]
    counts = {
        "SUCCEEDED": int(status.get("succeeded") or 0),
        "FAILED": int(status.get("failed") or 0),
        "CANCELLED": int(status.get("cancelled") or 0) + int(status.get("notStarted") or 0),
    }
    created, now = parse_time(meta.get("creationTimestamp")), utcnow()
    return build_batch_notification(
        batch_id=spec["batchId"], function=(spec.get("template") or {}).get("function") or "?",
        name=(spec.get("template") or {}).get("name"), total=int(spec["total"]),
        counts=counts, failed=failed, stopped=status.get("stopped"),
        duration=(now - created).total_seconds() if created else None,
        finished=format_time(now),
        status_cmd=batch_status_command(spec["batchId"], spec.get("store")),
    )  # fmt: skip


def deliver_summary(
    cluster: Cluster,
    namespace: str,
    spec: Mapping[str, Any],
    note: Mapping[str, Any],
    post: Callable[..., Delivery] = deliver,
) -> list[dict[str, Any]]:
    """Read the URLs from the batch's Secret, post to each at once; the outcome records."""
    urls, undelivered = read_urls(cluster, namespace, spec["batchId"], spec["notify"])
    if not urls:
        return undelivered
    return post_and_log(urls, lambda url: batch_body_for(url, note), post,
                        f"batch {namespace}/{spec['batchId']}: summary")  # fmt: skip
