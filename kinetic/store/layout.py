"""Where each artifact of a job lives in a store, and which job ids are acceptable."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kinetic.model.errors import InvalidJobIdError

if TYPE_CHECKING:
    from kinetic.store.store_contract import Store

JOBS = "jobs"

# Job ids become Kubernetes object names and label values, so they follow RFC 1123 labels:
# that also keeps them free of '/', '..' and anything else that could leave the store.
# fullmatch, not match with '$': '$' also matches before a trailing newline ("job-1\n").
_JOB_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def validate_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidJobIdError(
            f"invalid job id {job_id!r}: job ids are 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (as `kinetic jobs list` shows them)"
        )
    return job_id


def job_prefix(job_id: str) -> str:
    return f"{JOBS}/{validate_job_id(job_id)}"


def handle_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/handle.json"


def payload_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/payload.pkl"


def result_key(job_id: str, attempt: int = 1) -> str:
    return f"{attempt_prefix(job_id, attempt)}/result.pkl"


def state_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/state.json"


def launch_key(job_id: str, attempt: int = 1) -> str:
    return f"{attempt_prefix(job_id, attempt)}/launch.json"


def cancel_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/cancel.json"


def progress_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/progress.json"


def debugger_key(job_id: str) -> str:
    """debug=True: where the job's debugpy listens and the paths its code runs under
    (written by the attempt that listens; ``kinetic jobs debug`` reads it)."""
    return f"{job_prefix(job_id)}/debugger.json"


def dependents_prefix(job_id: str) -> str:
    """One empty marker per job that waits for this one (written when that job is
    submitted): what cancel(dependents=True), `kinetic jobs tree` and result()'s cleanup
    read, without scanning the store."""
    return f"{job_prefix(job_id)}/dependents"


RETRIED_AS = "retried_as"


def retried_as_prefix(job_id: str) -> str:
    """Markers naming the jobs that retry this one (kinetic.client.job_retry), one object
    each, so concurrent retries never overwrite each other's link."""
    return f"{job_prefix(job_id)}/{RETRIED_AS}"


def retried_as_key(job_id: str, retry_id: str) -> str:
    return f"{retried_as_prefix(job_id)}/{validate_job_id(retry_id)}.json"


ATTEMPTS = "attempts"


def attempt_prefix(job_id: str, attempt: int = 1) -> str:
    """Where one attempt's logs, result and outputs live: a retry never overwrites the
    evidence of the attempt before it. The first attempt's are at the job's top level."""
    if attempt <= 1:
        return job_prefix(job_id)
    return f"{job_prefix(job_id)}/{ATTEMPTS}/{int(attempt)}"


def attempts_prefix(job_id: str) -> str:
    return f"{job_prefix(job_id)}/{ATTEMPTS}"


def latest_attempt(store: Store, job_id: str) -> int:
    """The highest attempt with records in the store (1 when the job was never retried)."""
    numbers = [int(n) for n in store.list_children(attempts_prefix(job_id)) if n.isdigit()]
    return max(numbers, default=1)


def logs_prefix(job_id: str, attempt: int = 1) -> str:
    return f"{attempt_prefix(job_id, attempt)}/logs"


def output_prefix(job_id: str, attempt: int = 1) -> str:
    return f"{attempt_prefix(job_id, attempt)}/output"


CLEANED = "cleaned"


def tombstone_key(job_id: str) -> str:
    """What remains of a cleaned-up job: when it went (outside its prefix, which is gone)."""
    return f"{CLEANED}/{validate_job_id(job_id)}.json"


# -- workflows (kinetic.workflow): a record grouping a workflow's jobs ------------------------
WORKFLOWS = "workflows"


def workflow_key(workflow_id: str) -> str:
    return f"{WORKFLOWS}/{validate_job_id(workflow_id)}/workflow.json"


def workflow_summary_key(workflow_id: str, generation: int) -> str:
    """notify=: a workflow generation's one summary, claimed by the member that sends it
    (written if absent), then its delivery records (hosts only, never a URL)."""
    return f"{WORKFLOWS}/{validate_job_id(workflow_id)}/summary-{int(generation)}.json"


# -- environments (requirements=) and projects (working_dir=), shared by every job -----------
ENVS = "envs"


def env_prefix(key: str) -> str:
    """A packed environment (kinetic.job.env_pack), built once by the first job needing it."""
    return f"{ENVS}/{key}"


def env_archive_key(key: str) -> str:
    return f"{env_prefix(key)}/env.tar.gz"


def env_meta_key(key: str) -> str:
    return f"{env_prefix(key)}/env.json"


ENV_LOCKS = "locks"


def env_lock_prefix(key: str) -> str:
    """Held by the job building ``key`` (its write-once ``owner.json``): two jobs never
    build it at once. A prefix, so ``delete_prefix`` releases it on either store."""
    return f"{ENVS}/{ENV_LOCKS}/{key}"


PROJECTS = "projects"


def project_key(sha256: str) -> str:
    """A project's files (working_dir=), stored once per content hash."""
    return f"{PROJECTS}/{sha256}/project.tar.gz"


# -- batches (f.run_async_map): each item is a job, BATCH_ID-INDEX; the batch's own records --
BATCHES = "batches"


def validate_batch_id(batch_id: object) -> str:
    """A job id short enough that every item's id (``BATCH_ID-INDEX``) is one too."""
    from kinetic.model.batch_record import BATCH_ID_MAX

    if not isinstance(batch_id, str) or len(batch_id) > BATCH_ID_MAX:
        raise InvalidJobIdError(
            f"invalid batch id {batch_id!r}: batch ids are job ids of at most {BATCH_ID_MAX} "
            "characters (as `kinetic batches list` shows them)"
        )
    return validate_job_id(batch_id)


def batch_prefix(batch_id: str) -> str:
    return f"{BATCHES}/{validate_batch_id(batch_id)}"


def batch_key(batch_id: str) -> str:
    """batch.json: the batch's record (kinetic.model.batch_record), written once: its commit."""
    return f"{batch_prefix(batch_id)}/batch.json"


def batch_function_key(batch_id: str) -> str:
    """The function, pickled once for all the items."""
    return f"{batch_prefix(batch_id)}/function.pkl"


def batch_inputs_key(batch_id: str) -> str:
    """Each input's repr (bounded), in order: what a failure names."""
    return f"{batch_prefix(batch_id)}/inputs.json"


def batch_cancel_key(batch_id: str) -> str:
    return f"{batch_prefix(batch_id)}/cancel.json"


def batch_done_key(batch_id: str) -> str:
    """Written by the batch's driver when nothing waits and nothing runs."""
    return f"{batch_prefix(batch_id)}/done.json"


def batch_notifications_key(batch_id: str) -> str:
    """notify=: the delivery records of the batch's one summary (hosts only, never a URL)."""
    return f"{batch_prefix(batch_id)}/notifications.json"


def batch_collected_key(batch_id: str) -> str:
    """What results(cleanup=True) collected before it removed the items."""
    return f"{batch_prefix(batch_id)}/collected.json"


def batch_drivers_prefix(batch_id: str) -> str:
    """One child per generation of the local batch supervisor: ``N/claim.json`` (write-once:
    one relaunch however many readers notice a dead one) and ``N/launch.json``."""
    return f"{batch_prefix(batch_id)}/drivers"


def batch_driver_prefix(batch_id: str, generation: int) -> str:
    return f"{batch_drivers_prefix(batch_id)}/{int(generation)}"


def batch_dependents_prefix(batch_id: str) -> str:
    """One marker per job that waits for the whole batch (as dependents_prefix for a job)."""
    return f"{batch_prefix(batch_id)}/dependents"


def batch_retries_prefix(batch_id: str) -> str:
    """One write-once record per retry_failed(): the indices it queued again."""
    return f"{batch_prefix(batch_id)}/retries"


def batch_item_claim_key(batch_id: str, index: int, attempt: int) -> str:
    """Written once before an item's attempt is started: it is never started twice."""
    return f"{batch_prefix(batch_id)}/claims/{int(index)}.{int(attempt)}"
