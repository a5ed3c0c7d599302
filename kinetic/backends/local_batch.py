"""A local batch's driver, as anyone finds it: started, checked, restarted (caller side).

A batch (f.run_async_map) is driven by a detached *batch supervisor* process
(kinetic.backends.batch_supervisor) that keeps up to ``max_concurrent`` item runners
alive until every item has ended. Like a job's runner it outlives the caller; like a lost
runner it is replaced by whoever next looks at the batch and finds it dead with work left
(``ensure_driver``): each generation of driver is claimed write-once
(``drivers/N/claim.json``), so however many readers notice at once, one is started.

Also here: the items' records and states, the cancel request, and queueing failed items
again (``retry_failed``) — all through the store, so any process that reaches it can.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from kinetic.backends.local import LAUNCH_GRACE, LocalBackend, read_json
from kinetic.model.batch_record import BatchRecord, item_job_id
from kinetic.model.errors import JobExistsError
from kinetic.model.job_record import JobRecord
from kinetic.model.kinetic_home import kinetic_home
from kinetic.model.reasons import Reason
from kinetic.model.retry_policy import attempt_record
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.store import ObjectNotFound, Store, layout
from kinetic.system.procinfo import ProcessIdentity


def driver_stderr_path(batch_id: str) -> Path:
    return kinetic_home() / "runners" / f"batch-{batch_id}.err"


def generations(store: Store, batch_id: str) -> list[int]:
    names = store.list_children(layout.batch_drivers_prefix(batch_id))
    return sorted(int(n) for n in names if n.isdigit())


def driver_alive(store: Store, batch_id: str) -> bool:
    """Whether the latest driver is running (or being started, or on another machine)."""
    gens = generations(store, batch_id)
    if not gens:
        return False
    prefix = layout.batch_driver_prefix(batch_id, gens[-1])
    launch = read_json(store, f"{prefix}/launch.json")
    if launch is None:  # claimed, being started: give it the grace a runner gets
        claim = read_json(store, f"{prefix}/claim.json") or {}
        at = parse_time(claim.get("at"))
        return at is not None and (utcnow() - at).total_seconds() < LAUNCH_GRACE
    identity = ProcessIdentity.from_dict(launch)
    return not identity.is_local or identity.alive()


def finished(store: Store, batch_id: str) -> bool:
    """The driver recorded that nothing waits and nothing runs, and no retry came since."""
    done = read_json(store, layout.batch_done_key(batch_id))
    if done is None:
        return False
    return done.get("retries") == retries_count(store, batch_id)


def retries_count(store: Store, batch_id: str) -> int:
    """How many times retry_failed() queued items again (each a record under retries/)."""
    return len(store.list(layout.batch_retries_prefix(batch_id)))


def ensure_driver(store: Store, record: BatchRecord) -> bool:
    """Start a driver if the batch has work left and none is alive; True if one started."""
    if driver_alive(store, record.batch_id) or finished(store, record.batch_id):
        return False
    gens = generations(store, record.batch_id)
    generation = (gens[-1] if gens else 0) + 1
    prefix = layout.batch_driver_prefix(record.batch_id, generation)
    try:  # one start, however many readers notice at once
        claim = {"at": format_time(utcnow())}
        store.write_bytes(f"{prefix}/claim.json", json.dumps(claim).encode(), if_absent=True)
    except JobExistsError:
        return False
    err_path = driver_stderr_path(record.batch_id)
    err_path.parent.mkdir(parents=True, exist_ok=True)
    with err_path.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kinetic.backends.batch_supervisor", "--store", store.uri,
             record.batch_id, str(generation)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,  # outlives the caller, immune to its Ctrl-C
            close_fds=True, env=dict(os.environ),
        )  # fmt: skip
    identity = ProcessIdentity.of(proc.pid)
    if identity is not None:
        store.write_bytes(f"{prefix}/launch.json", json.dumps(identity.to_dict()).encode())
    return True


def item_record(store: Store, batch_id: str, index: int) -> JobRecord | None:
    """Item ``index``'s handle.json; None once it is cleaned up."""
    try:
        data = store.read_bytes(layout.handle_key(item_job_id(batch_id, index)))
    except ObjectNotFound:
        return None
    return JobRecord.from_json(data.decode())


def request_cancel(store: Store, batch_id: str) -> None:
    request = {"requested": format_time(utcnow())}
    store.write_bytes(layout.batch_cancel_key(batch_id), json.dumps(request).encode())


def queue_again(store: Store, record: BatchRecord, indices: list[int]) -> list[int]:
    """Put ended items back in the queue as their next attempt, keeping every earlier
    attempt's evidence (its logs and result stay under its attempt). Returns those queued."""
    backend = LocalBackend()
    queued = []
    for index in indices:
        job = item_record(store, record.batch_id, index)
        if job is None:
            continue
        state = backend.state(job)
        if state.status != JobStatus.FAILED and state.reason != Reason.BATCH_STOPPED:
            continue  # only failures, and what fail_fast never started (not cancels)
        earlier = attempt_record(
            max(1, state.attempts), reason=state.reason, message=state.message,
            started=format_time(state.started), finished=format_time(state.finished),
            node=state.node, exit_code=state.exit_code,
        )  # fmt: skip
        earlier["requeued"] = True  # its retry budget starts afresh (retry_policy.should_retry)
        # A never-started item (fail_fast, cancel) has no attempt to remember.
        # An attempt a driver claimed counts, even if it never ran (its driver died while
        # starting it): the next one needs a claim of its own, or it is found lost again.
        ran = state.reason != Reason.BATCH_STOPPED and state.attempts > 0
        waiting = JobState(
            JobStatus.PENDING, reason=Reason.BATCH_QUEUED, message="queued again (retry_failed)",
            created=state.created, attempts=state.attempts if ran else 0,
            previous_attempts=[*state.previous_attempts, earlier] if ran else [],
        )  # fmt: skip
        store.write_bytes(layout.state_key(job.job_id), json.dumps(waiting.to_dict()).encode())
        queued.append(index)
    if queued:
        number = retries_count(store, record.batch_id) + 1
        while True:  # write-once: two retry_failed() at once each get their own record
            key = f"{layout.batch_retries_prefix(record.batch_id)}/{number}"
            try:
                store.write_bytes(key, json.dumps({"indices": queued}).encode(), if_absent=True)
                break
            except JobExistsError:
                number += 1
    return queued


def skipped_state(state: JobState, reason: str, message: str) -> JobState:
    """A waiting item that will never start (fail_fast, or its batch cancelled)."""
    return dataclasses.replace(state, status=JobStatus.CANCELLED, reason=reason,
                               message=message, finished=utcnow())  # fmt: skip
