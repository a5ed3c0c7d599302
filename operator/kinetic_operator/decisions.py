"""What the operator should do for one KineticJob, decided from what exists. Pure.

``decide`` says which writes are needed (create the Job, delete it on cancel, refuse);
``status_patch`` says how the status must change (only the keys that differ);
``transition_event`` turns a phase or reason change into a Kubernetes Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kinetic.k8s.batch_items import counted_attempts
from kinetic.k8s.kineticjob_body import KineticJob, retry_policy_of
from kinetic.k8s.kueue_workload import KueueView
from kinetic.k8s.runtime_table import RuntimeTable
from kinetic.model.dependency_verdict import Verdict
from kinetic.model.reasons import Reason
from kinetic.model.retry_policy import should_retry
from kinetic.model.status import JobStatus, format_time, parse_time, utcnow
from kinetic_operator.dependency_gate import held_patch
from kinetic_operator.derived_status import DerivedStatus
from kinetic_operator.reconcile import derive_status

TERMINAL = {s.value for s in JobStatus if s.is_terminal}


@dataclass(frozen=True)
class Action:
    create_job: bool = False
    delete_job: bool = False
    refuse: tuple[str, str] | None = None  # (reason, message): fail without a Job
    wait_until: str | None = None  # scheduled start (spec.startAt) or retry not reached yet
    lost: str | None = None  # the attempt's pod vanished (pod_status.vanished): it failed
    lost_reason: str = Reason.LOST  # …or was pushed off its node (pod_status.disrupted_end)
    # Held for its dependencies, or ended by one (dependency_gate.held_patch): the status.
    hold: dict[str, Any] | None = None
    # Where the dependencies' values are, for the pod (kinetic.wire.dependency_ref).
    dependency_results: dict[str, Any] | None = None


def decide(
    kj: KineticJob,
    job: dict | None,
    pods: list[dict],
    *,
    store_shared: bool,
    now: datetime | None = None,
    runtimes: RuntimeTable | None = None,
    lost: str | None = None,
    lost_reason: str = Reason.LOST,
    dependencies: Verdict | None = None,
    created_unseen: bool = False,
) -> Action:
    """``lost``: why the attempt's pod just vanished (see pod_status.vanished), if it did,
    recorded with ``lost_reason``; ``dependencies``: the verdict on its dependencies
    (dependency_gate), if it has any; ``created_unseen``: this attempt's Job was created
    by this operator and the watch has not shown it yet (``job`` is None)."""
    status, spec = kj.get("status") or {}, kj["spec"]
    if status.get("phase") in TERMINAL:
        return Action()
    if spec.get("cancel"):
        # Deleting the Job ends its pods with their grace period; nothing is recreated.
        # A Job just created is deleted too: once the job is CANCELLED nothing looks at
        # its Jobs again, so one the index shows only later would run on.
        return Action(delete_job=created_unseen or (job is not None and not _job_finished(job)))
    if lost and job is not None and not _job_finished(job):
        # The attempt is over: stop the Job from quietly replacing the pod, and record it
        # (a retry, if the budget allows, gets a Job of its own).
        return Action(delete_job=True, lost=lost, lost_reason=lost_reason)
    if job is None and not status.get("jobName"):
        if not store_shared:
            return Action(
                refuse=(
                    Reason.STORE_NOT_SHARED,
                    f"store {spec['store']} is not under the host path shared with the nodes "
                    "(chart value fileStore.hostPath); use a gs:// store or that path",
                )
            )
        # The first attempt waits for its schedule, a retry for its backoff: nothing early.
        when = status.get("retryAt") if status.get("previousAttempts") else spec.get("startAt")
        start_at = parse_time(when)
        if start_at is not None and start_at > (now or utcnow()):
            return Action(wait_until=when)
        if dependencies is not None and not dependencies.ready:
            return Action(hold=held_patch(dependencies))
        if spec.get("runtime"):  # checked now: the table may have changed since submission
            table = runtimes or RuntimeTable("the runtime table", problem="it was not read")
            if refusal := table.refusal(spec["runtime"]):
                return Action(refuse=(Reason.UNKNOWN_RUNTIME, refusal))
        results = dependencies.results if dependencies is not None else None
        return Action(create_job=True, dependency_results=results or None)
    return Action()


def needs_runtime_table(kj: KineticJob, job: dict | None) -> bool:
    """Whether ``decide`` may create this job's Job now and so needs the runtime table."""
    status, spec = kj.get("status") or {}, kj["spec"]
    return bool(
        spec.get("runtime")
        and job is None
        and not status.get("jobName")
        and status.get("phase") not in TERMINAL
        and not spec.get("cancel")
    )


def _job_finished(job: dict) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def status_patch(
    kj: KineticJob,
    job: dict | None,
    pods: list[dict],
    action: Action,
    progress: dict[str, Any] | None = None,
    kueue: KueueView | None = None,
) -> dict[str, Any] | None:
    """The keys of ``.status`` that must change (None: nothing to write). ``progress`` is
    the job's latest validated report (progress_server.latest), None to keep the status's;
    ``kueue`` what Kueue says of a queued Job (its Workload, its position)."""
    previous, spec, meta = kj.get("status") or {}, kj["spec"], kj["metadata"]
    if action.refuse:
        reason, message = action.refuse
        new: dict[str, Any] = {
            "phase": JobStatus.FAILED.value,
            "reason": reason,
            "message": message,
            "completionTime": format_time(utcnow()),
        }
    elif action.hold:
        new = dict(action.hold)
        if new["phase"] in TERMINAL:
            new["completionTime"] = format_time(utcnow())
    else:
        cancel = spec.get("cancelRequestedAt") or bool(spec.get("cancel"))
        # "Created" means observed: right after our create the Job may not be in the
        # watch yet, and its absence then must not read as a lost Job.
        derived = derive_status(
            job, pods, previous=previous, cancel_requested=cancel,
            job_created=bool(previous.get("jobName")), kueue=kueue, pods_watched=True,
        )  # fmt: skip
        if action.lost:
            derived = replace(derived, phase=JobStatus.FAILED.value, reason=action.lost_reason,
                              message=action.lost, finished=format_time(utcnow()))  # fmt: skip
        retry = _retry_patch(kj, job, pods, derived)
        new = retry or derived.to_patch()
        if action.wait_until and new["phase"] == JobStatus.PENDING.value:
            if previous.get("previousAttempts"):  # waiting for a retry: say why
                new.update(reason=Reason.RETRYING, message=previous.get("message"))
            else:
                new.update(reason=Reason.SCHEDULED, message=f"starts at {action.wait_until}")
        if job is not None and not retry:
            new["jobName"] = job["metadata"]["name"]
            # The operator's attempt number, not the pods the Job shows: 1.20 replaces a
            # deleted pod within the same Job, which is not another attempt of ours.
            new["attempts"] = attempt_number(kj)
        elif not retry:
            new["attempts"] = previous.get("attempts") or 0
        if progress is not None:
            new["progress"] = progress
        new["progressText"] = _progress_text(new.get("progress", previous.get("progress")))
    new["observedGeneration"] = meta.get("generation")
    changed = {k: v for k, v in new.items() if previous.get(k) != v}
    if "progress" in changed:  # replace the report whole: no old metric may linger
        changed["progress"] = _merge_patch(previous.get("progress"), changed["progress"])
    return changed or None


def _merge_patch(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns ``previous`` into exactly ``new`` (a merge patch
    alone keeps the keys it does not name: an old message or metric would linger)."""
    patch: dict[str, Any] = {k: None for k in previous or {} if k not in new}
    for key, value in new.items():
        before = (previous or {}).get(key)
        patch[key] = _merge_patch(before, value) if isinstance(value, dict) and isinstance(
            before, dict) else value  # fmt: skip
    return patch


def attempt_number(kj: KineticJob) -> int:
    """The attempt the KineticJob is on: 1, then one more after each retry."""
    return max(1, int((kj.get("status") or {}).get("attempts") or 1))


def _retry_patch(
    kj: KineticJob, job: dict | None, pods: list[dict], derived: DerivedStatus
) -> dict[str, Any] | None:
    """When this attempt failed and its retries allow another: the status that records it
    and schedules the next (see kinetic.model.retry_policy). None otherwise."""
    status, spec = kj.get("status") or {}, kj["spec"]
    if derived.phase != JobStatus.FAILED.value or spec.get("cancel"):
        return None
    previous = list(status.get("previousAttempts") or [])
    policy = retry_policy_of(spec)
    # A batch's retry_failed() gives the item its whole budget again (batch_items).
    if not should_retry(policy, derived.reason, counted_attempts(kj, previous)):
        return None
    attempt, now = attempt_number(kj), utcnow()
    own = derive_status(job, pods, job_created=True, now=now)  # this attempt's own times
    record = {
        "attempt": attempt,
        "reason": derived.reason,
        "message": derived.message,
        "startTime": own.started,
        "completionTime": own.finished or format_time(now),
        "nodeName": own.node_name,
        "exitCode": own.exit_code,
    }
    retry_at = format_time(now + timedelta(seconds=policy.delay(attempt)))
    return {
        "phase": JobStatus.PENDING.value,
        "reason": Reason.RETRYING,
        "message": f"attempt {attempt} failed ({derived.reason}); starts at {retry_at}",
        "attempts": attempt + 1,
        "previousAttempts": [*previous, {k: v for k, v in record.items() if v is not None}],
        "retryAt": retry_at,
        # The next attempt starts from nothing: its Job, pod and result are yet to come.
        **dict.fromkeys(["jobName", "podName", "nodeName", "exitCode", "result", "resources"]),
        "completionTime": None,
    }


def _progress_text(progress: dict | None) -> str | None:
    fraction = (progress or {}).get("fraction")
    return f"{fraction * 100:.0f}%" if isinstance(fraction, int | float) else None


def transition_event(
    previous: Mapping[str, Any], patch: dict[str, Any]
) -> tuple[str, str, str] | None:
    """(type, reason, message) for an Event when the phase or its reason changed."""
    if "phase" not in patch and "reason" not in patch:
        return None
    phase = patch.get("phase", previous.get("phase")) or JobStatus.PENDING.value
    reason = patch.get("reason", previous.get("reason"))
    message = patch.get("message", previous.get("message"))
    kind = "Warning" if phase == JobStatus.FAILED.value else "Normal"
    text = phase + (f" ({reason})" if reason else "") + (f": {message}" if message else "")
    return kind, phase.capitalize(), text[:1000]
