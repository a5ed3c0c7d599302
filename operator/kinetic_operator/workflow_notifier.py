"""A workflow's one summary on Kubernetes: the operator sends it when the last member ends.

Where it sits: after every sync, ``Controller`` asks ``WorkflowSummaries.claim`` whether
the job just synced is a member of a workflow with a summary (``spec.workflow``, written
by the client with every member's id before any was created) whose members have all
ended; the job's own status is the one the Controller last wrote, the others' the index's.
Each member's end re-syncs it once the index shows it, so the last of those syncs sees
every end. The claim is taken under one lock (the operator is one process) and made
durable in the claiming member's ``status.workflowSummary`` (its generation), which every
later check — of this operator or of one restarted — finds among the members, so it is
sent once per generation. ``deliver`` then reads the URLs from the claimer's Secret (they
travel as a job's notify URLs do), posts the summary (kinetic.wire.workflow_notification)
with kinetic.wire.webhook's bounded retries, and returns the outcomes, hosts only, which
the Controller writes back there. The members send nothing of their own (notifier.py).

At least once, as a job's notification: an operator restarted while it delivered finds
the claimer's records all ``sending`` and nothing of its own delivering, and sends again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kinetic.model.status import JobStatus, format_time, parse_time, utcnow
from kinetic.wire.notification import Delivery, wanted
from kinetic.wire.webhook import deliver
from kinetic.wire.workflow_notification import (
    all_ended,
    build_workflow_notification,
    workflow_body_for,
    workflow_status_command,
)
from kinetic_operator.notifier import post_and_log, read_urls

if TYPE_CHECKING:
    from kinetic_operator.cluster import Cluster

Lookup = Callable[[str], Mapping[str, Any] | None]  # a job id → its KineticJob (the index)
# How long this process remembers a claim of its own: long past the index showing it in
# the claimer's status (which is then what every check finds), so memory stays bounded.
CLAIM_MEMORY = 600.0


def _phase(kj: Mapping[str, Any] | None) -> JobStatus | None:
    phase = ((kj or {}).get("status") or {}).get("phase")
    try:
        return JobStatus(phase) if phase else None
    except ValueError:
        return None


def fellows_if_ended(kj: Mapping[str, Any], lookup: Lookup) -> dict[str, Mapping[str, Any]] | None:
    """Every member's KineticJob, by name, once all have ended and ``kj`` is a member of a
    workflow with a summary (pure); None otherwise. ``kj`` stands for itself (its status
    as last written, fresher than the index's)."""
    workflow = (kj.get("spec") or {}).get("workflow") or {}
    phase = _phase(kj)
    if not workflow.get("summary") or phase is None or not phase.is_terminal:
        return None
    me = kj["metadata"]["name"]
    found: dict[str, Mapping[str, Any]] = {}
    for name, job_id in (workflow.get("members") or {}).items():
        other = kj if job_id == me else lookup(job_id)
        if other is None:
            return None  # not created yet (or deleted): no end to count
        found[name] = other
    return found if all_ended(_phase(k) for k in found.values()) else None


def claimed_by(
    fellows: Mapping[str, Mapping[str, Any]], generation: int
) -> Mapping[str, Any] | None:
    """The member that has claimed this generation's summary, if any (pure)."""
    for other in fellows.values():
        summary = (other.get("status") or {}).get("workflowSummary") or {}
        if summary.get("generation") == generation:
            return other
    return None


def summary_of(kj: Mapping[str, Any], fellows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of an ended workflow from its members' KineticJobs (pure)."""
    spec = kj["spec"]
    workflow = spec["workflow"]
    jobs = [
        (name, other["metadata"]["name"], _phase(other) or JobStatus.NOT_FOUND,
         (other.get("status") or {}).get("reason"))
        for name, other in fellows.items()
    ]  # fmt: skip
    started, now = parse_time(workflow.get("started")), utcnow()
    return build_workflow_notification(
        workflow_id=workflow["id"], name=workflow.get("name") or workflow["id"],
        generation=int(workflow.get("generation") or 0), jobs=jobs,
        duration=(now - started).total_seconds() if started else None,
        finished=format_time(now),
        status_cmd=workflow_status_command(workflow["id"], spec.get("store")),
    )  # fmt: skip


class WorkflowSummaries:
    """The operator's claims: one lock, and the (namespace, workflow, generation) this
    process has claimed lately, with when (the index may not show a claim just written;
    a restarted operator relies on the statuses)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mine: dict[tuple[str, str, int], float] = {}

    def claim(
        self, kj: Mapping[str, Any], lookup: Lookup
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """(the summary, its ``sending`` records) if ``kj``'s sync is the one to send its
        workflow's summary now; None otherwise. The caller writes the records to ``kj``'s
        ``status.workflowSummary`` before delivering (the durable claim)."""
        fellows = fellows_if_ended(kj, lookup)
        if fellows is None:
            return None
        workflow, namespace = kj["spec"]["workflow"], kj["metadata"]["namespace"]
        generation = int(workflow.get("generation") or 0)
        key = (namespace, str(workflow["id"]), generation)
        with self.lock:
            now = time.monotonic()
            for old in [k for k, at in self.mine.items() if now - at > CLAIM_MEMORY]:
                del self.mine[old]
            if key in self.mine:
                return None
            claimer = claimed_by(fellows, generation)
            if claimer is not None:
                records = (claimer.get("status") or {})["workflowSummary"].get("notifications")
                again = claimer is kj and all(r.get("outcome") == "sending" for r in records or [])
                if not again:  # sent (or being sent) already; a restart resends only its own
                    return None
            note = summary_of(kj, fellows)
            if not wanted((kj["spec"].get("notify") or {}).get("on"), note["status"]):
                return None
            self.mine[key] = now
        hosts = list((kj["spec"].get("notify") or {}).get("hosts") or [])
        return note, [Delivery(h, "sending").to_dict() for h in hosts]


def deliver_summary(
    cluster: Cluster,
    kj: Mapping[str, Any],
    note: dict[str, Any],
    post: Callable[..., Delivery] = deliver,
) -> list[dict[str, Any]]:
    """Read the URLs from the claimer's Secret and post the summary to each at once."""
    namespace, job_id = kj["metadata"]["namespace"], kj["metadata"]["name"]
    urls, undelivered = read_urls(cluster, namespace, job_id, kj["spec"].get("notify") or {})
    if not urls:
        return undelivered
    what = f"workflow {namespace}/{note['workflow_id']}: summary (from {job_id})"
    return post_and_log(urls, lambda url: workflow_body_for(url, note), post, what)
