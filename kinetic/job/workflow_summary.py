"""A workflow's one summary, sent by the last of its jobs to end (local and SLURM runners).

Where it sits: kinetic.job.supervisor, in ``finish``, AFTER it has written its job's
terminal record, calls ``after_end`` when the job belongs to a workflow with a summary
(``handle.json``'s ``workflow``, written by kinetic.client.workflow_run, which recorded
every member's id before submitting any). It reads every member's state; if all have
ended it claims the generation's summary (``workflows/ID/summary-GEN.json``, written only
if absent: of two members ending together exactly one wins), posts it
(kinetic.wire.workflow_notification, kinetic.wire.webhook's bounded retries) and records
the outcomes there, hosts only. Since each member writes its own end before it checks,
whichever ends last sees every end. The URLs came on stdin as a job's own do; the member
sends no message of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from kinetic.job.notify_delivery import post_and_say
from kinetic.job.records import say
from kinetic.model.errors import JobExistsError
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.store import ObjectNotFound, Store, layout
from kinetic.wire.notification import Delivery, wanted
from kinetic.wire.webhook import deliver
from kinetic.wire.workflow_notification import (
    all_ended,
    build_workflow_notification,
    workflow_body_for,
    workflow_status_command,
)


def summary_member(handle: dict[str, Any]) -> dict[str, Any] | None:
    """The job's workflow membership if it is a member whose workflow sends a summary."""
    member = handle.get("workflow")
    return member if isinstance(member, dict) and member.get("summary") else None


def member_status(store: Store, job_id: str) -> tuple[JobStatus | None, str | None]:
    """A member's recorded status and reason; (None, None) while it has no record."""
    try:
        state = JobState.from_dict(json.loads(store.read_bytes(layout.state_key(job_id))))
    except ObjectNotFound:
        return None, None
    except (ValueError, KeyError, TypeError):
        return None, None  # half of someone else's record: not an end we can count
    return state.status, state.reason


@dataclasses.dataclass
class WorkflowSummary:
    store: Store
    job_id: str
    member: dict[str, Any]  # JobRecord.workflow
    hosts: list[str]
    urls: tuple[str, ...]
    post: Callable[..., Delivery] = deliver  # kinetic.wire.webhook.deliver

    def after_end(self) -> list[dict[str, Any]] | None:
        """Send the summary if this member's end was the workflow's; the delivery records
        (None: not the last, already claimed, or not wanted). Never raises: the job has
        ended whatever the store or a receiver does."""
        try:
            return self._after_end()
        except Exception as exc:  # the job's own record is written; this is a courtesy
            say(f"workflow summary: not sent ({type(exc).__name__}: {exc})")
            return None

    def _after_end(self) -> list[dict[str, Any]] | None:
        workflow_id, generation = str(self.member["id"]), int(self.member["generation"])
        members: dict[str, str] = dict(self.member.get("members") or {})
        seen = {name: member_status(self.store, job_id) for name, job_id in members.items()}
        if not all_ended(status for status, _ in seen.values()):
            return None  # a later member sends it
        if not self.store.exists(layout.workflow_key(workflow_id)):
            return None  # cleaned up meanwhile: nothing to report on
        jobs = [(n, members[n], s or JobStatus.NOT_FOUND, r) for n, (s, r) in seen.items()]
        started = parse_time(self.member.get("started"))
        now = utcnow()
        note = build_workflow_notification(
            workflow_id=workflow_id, name=str(self.member.get("name") or workflow_id),
            generation=generation, jobs=jobs,
            duration=(now - started).total_seconds() if started else None,
            finished=format_time(now),
            status_cmd=workflow_status_command(workflow_id, self.store.uri),
        )  # fmt: skip
        if not wanted(self.member.get("notify_on"), note["status"]):
            return None
        key = layout.workflow_summary_key(workflow_id, generation)
        sending = [Delivery(h, "sending").to_dict() for h in self.hosts]
        try:  # the claim: of the members that saw every end, one sends
            self.store.write_bytes(key, self._body(generation, sending), if_absent=True)
        except JobExistsError:
            return None
        results = post_and_say(self.urls, self.hosts, lambda url: workflow_body_for(url, note),
                               self.post, f"workflow {workflow_id} summary")  # fmt: skip
        records = [r.to_dict() for r in results]
        with contextlib.suppress(Exception):  # cleaned up meanwhile: nothing to record in
            if self.store.exists(layout.workflow_key(workflow_id)):
                self.store.write_bytes(key, self._body(generation, records, note["status"]))
        return records

    def _body(self, generation: int, records: list[dict[str, Any]], status: str = "") -> bytes:
        body = {"generation": generation, "sent_by": self.job_id, "status": status or None,
                "notifications": records, "at": format_time(utcnow())}  # fmt: skip
        return json.dumps(body).encode()
