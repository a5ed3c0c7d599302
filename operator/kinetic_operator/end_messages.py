"""What a job's end sends: its own ``notify=`` message, or its workflow's one summary.

Where it sits: after every sync of a job, ``Controller.sync`` (controller.py) calls
``EndMessages.after_sync``. A job that has ended and has notify URLs gets its message
(notifier.py decides, reads the URLs from the job's Secret and posts); a workflow's
member whose end was the workflow's last claims and sends the workflow's summary
(workflow_notifier.py). Each delivery runs on a thread of its own, so a slow receiver
never holds a sync; what it records (hosts only) goes to the KineticJob's status through
the Controller's status writer, under the job's lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kinetic_operator import notifier
from kinetic_operator.cluster import Cluster, api_error_text
from kinetic_operator.indexes import latest
from kinetic_operator.state import JobRegistry, JobState, Key
from kinetic_operator.workflow_notifier import WorkflowSummaries, deliver_summary

log = logging.getLogger("kinetic.operator")
StatusWriter = Callable[[JobState, dict[str, Any]], None]


class EndMessages:
    """The end messages of one operator process's jobs."""

    def __init__(
        self,
        cluster: Cluster,
        jobs: JobRegistry,
        kineticjobs: Mapping[Key, Iterable[dict]],
        write_status: StatusWriter,
    ) -> None:
        self.cluster, self.jobs, self.kineticjobs = cluster, jobs, kineticjobs
        self.write_status = write_status
        self.summaries = WorkflowSummaries()  # a workflow's one summary (its last member's)

    def after_sync(self, state: JobState) -> None:
        """Called holding the job's lock, after its sync wrote what it had to."""
        self._notify(state)
        self._workflow_summary(state)

    def _notify(self, state: JobState) -> None:
        """notify=: post the job's end once it has one, on a thread of its own."""
        kj = latest(self.kineticjobs, state.key)
        if kj is None or state.notifying or state.closed:
            return
        kj = {**kj, "status": {**(kj.get("status") or {}), **state.written}}
        if not notifier.notify_due(kj):
            return
        self.write_status(state, {"notifications": notifier.sending(kj)})
        state.notifying = True
        threading.Thread(target=self._deliver, args=(state.key, kj), daemon=True).start()

    def _deliver(self, key: Key, kj: dict) -> None:
        records = notifier.deliver_all(self.cluster, kj)
        with self.jobs.hold(key) as state:
            if state.uid not in (None, kj["metadata"].get("uid")):
                return  # another KineticJob of the same name: not this delivery's
            try:
                self.write_status(state, {"notifications": records})
            except Exception as exc:  # deleted meanwhile, or the API server refused
                log.warning("job %s/%s: cannot record the notifications: %s",
                            *key, api_error_text(exc))  # fmt: skip
            state.notifying = False

    def _workflow_summary(self, state: JobState) -> None:
        """A workflow's member that ended last: send the workflow's one summary (claimed
        in its status first), on a thread of its own."""
        found = latest(self.kineticjobs, state.key)
        if found is None or state.closed:
            return
        kj = {**found, "status": {**(found.get("status") or {}), **state.written}}
        lookup = lambda name: latest(self.kineticjobs, (state.key[0], name))  # noqa: E731
        claim = self.summaries.claim(kj, lookup)
        if claim is None:
            return
        note, records = claim
        generation = note["generation"]
        self.write_status(state, {"workflowSummary": {"generation": generation,
                                                        "notifications": records}})  # fmt: skip
        threading.Thread(target=self._deliver_summary, args=(state.key, kj, note),
                         daemon=True).start()  # fmt: skip

    def _deliver_summary(self, key: Key, kj: dict, note: dict) -> None:
        records = deliver_summary(self.cluster, kj, note)
        summary = {"generation": note["generation"], "status": note["status"],
                   "notifications": records}  # fmt: skip
        with self.jobs.hold(key) as state:
            try:
                self.write_status(state, {"workflowSummary": summary})
            except Exception as exc:  # deleted meanwhile, or the API server refused
                log.warning("job %s/%s: cannot record the workflow summary: %s",
                            *key, api_error_text(exc))  # fmt: skip
