"""The local runner holds a job until its dependencies succeed (as it holds one for
``start_at``), reading their records in the store; cancellable meanwhile.

Where it sits: the supervisor (supervisor.py) calls ``wait_for_dependencies`` before the
attempt runs when the spec has ``depends_on``. The job is PENDING with reason
``WaitingForDependencies`` while it waits; when one fails or is cancelled the job ends
CANCELLED/``DependencyFailed`` without running; when all succeeded, their results' keys
and digests go to the worker in ``KINETIC_DEPENDENCY_RESULTS`` (kinetic.wire.dependency_ref)
and the worker loads the values (kinetic.job.dependency_values). A dependency may be a
whole batch (``read_batch``): it counts as one, ended once the batch has. On Kubernetes the operator
does the holding, and sets that variable in the pod.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from kinetic.model.batch_dependency import batch_view, waiting_batch
from kinetic.model.batch_record import item_job_id
from kinetic.model.dependency_verdict import DependencyView, Verdict, judge
from kinetic.model.outcome import Outcome
from kinetic.model.reasons import Reason
from kinetic.model.spec_record import SpecRecord
from kinetic.model.status import JobStatus
from kinetic.store import ObjectNotFound, Store, layout
from kinetic.system.procinfo import ProcessIdentity
from kinetic.wire.dependency_ref import RESULTS_ENV

POLL_FILE = 0.1  # seconds between looks, on a file:// store (a file read each)
POLL_REMOTE = 2.0  # on a bucket: a request per dependency per look


def read_dependency(store: Store, job_id: str) -> DependencyView:
    """A dependency's state as its runner recorded it, with the runner's liveness."""
    record = _read_json(store, layout.state_key(job_id))
    if record is None and not store.exists(layout.handle_key(job_id)):
        if store.exists(layout.batch_key(job_id)):
            return read_batch(store, job_id)
        return DependencyView(job_id, JobStatus.NOT_FOUND)
    status = JobStatus(record["status"]) if record else JobStatus.PENDING
    if not status.is_terminal and _runner_gone(store, job_id, record):
        # Read again: the runner may have written its end just before exiting.
        record = _read_json(store, layout.state_key(job_id)) or record
        status = JobStatus(record["status"]) if record else JobStatus.PENDING
        if not status.is_terminal:
            return DependencyView(job_id, JobStatus.FAILED, Reason.LOST,
                                  "its runner process died without a record")  # fmt: skip
    record = record or {}
    result = None
    found = (record.get("extra") or {}).get("result") or {}
    if status == JobStatus.SUCCEEDED and found.get("sha256"):
        key = layout.result_key(job_id, max(1, int(record.get("attempts") or 1)))
        result = {"key": key, "sha256": found["sha256"]}
    return DependencyView(job_id, status, record.get("reason"), record.get("message"), result)


def read_batch(store: Store, batch_id: str) -> DependencyView:
    """A batch as one dependency: waiting until its driver recorded its end (done.json,
    with no retry_failed() since: one read while it runs), then from its items' records."""
    done = _read_json(store, layout.batch_done_key(batch_id))
    retries = len(store.list(layout.batch_retries_prefix(batch_id)))
    if done is None or done.get("retries") != retries:
        return waiting_batch(batch_id)
    count = int(json.loads(store.read_bytes(layout.batch_key(batch_id)))["count"])
    items, attempts = [], []
    for index in range(count):
        job_id = item_job_id(batch_id, index)
        items.append(read_dependency(store, job_id))
        state = _read_json(store, layout.state_key(job_id)) or {}
        attempts.append(max(1, int(state.get("attempts") or 1)))
    return batch_view(batch_id, items, attempts)


def _read_json(store: Store, key: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(key))
    except ObjectNotFound:
        return None


def _runner_gone(store: Store, job_id: str, record: dict | None) -> bool:
    """A runner of this machine that is no longer alive (another machine's: unknown)."""
    attempt = max(1, int((record or {}).get("attempts") or 1))
    launch = _read_json(store, layout.launch_key(job_id, attempt))
    if launch is None:
        return False  # not launched yet (or its submission is finishing)
    identity = ProcessIdentity.from_dict(launch)
    return identity.is_local and not identity.alive()


def wait_for_dependencies(
    store: Store,
    ids: list[str],
    stopped: Callable[[bool], bool],
    waiting: Callable[[Verdict], None],
) -> Verdict | None:
    """Look until the dependencies allow a verdict: ready, or failed. ``waiting`` is told
    each new waiting verdict (to record it); None if ``stopped`` says to stop first
    (``stopped(True)`` may ask the store for a cancel request, ``stopped(False)`` not)."""
    poll = POLL_FILE if store.uri.startswith("file:") else POLL_REMOTE
    said = None
    while True:
        if stopped(True):
            return None
        verdict = judge([read_dependency(store, i) for i in ids])
        if verdict.ready or verdict.failed:
            return verdict
        if verdict.message != said:
            said = verdict.message
            waiting(verdict)
        end = time.monotonic() + poll
        while time.monotonic() < end:  # a stop signal is seen within 50 ms
            if stopped(False):
                return None
            time.sleep(min(0.05, poll))


def hold_for_dependencies(
    store: Store,
    spec: SpecRecord,
    stopped: Callable[[bool], bool],
    waiting: Callable[[Verdict], None],
) -> Outcome | None:
    """Wait for ``spec``'s dependencies. None: go on (their results are in the
    environment for the worker); else how the job ends without running."""
    ids = list(spec.get("depends_on") or [])
    if not ids:
        return None
    verdict = wait_for_dependencies(store, ids, stopped, waiting)
    if verdict is None:
        return Outcome(JobStatus.CANCELLED, Reason.CANCELLED, "cancelled before it started")
    if verdict.failed:
        return Outcome(JobStatus.CANCELLED, verdict.reason, verdict.message)
    os.environ[RESULTS_ENV] = json.dumps(verdict.results)  # the forked worker inherits it
    return None
