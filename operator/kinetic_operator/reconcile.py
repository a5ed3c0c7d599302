"""Pure status derivation: a `batch/v1` Job and its Pods → the KineticJob's `.status`.

Inputs are plain camelCase dicts as the API server returns them (what kopf hands to
handlers, or `ApiClient().sanitize_for_serialization(obj)`); any part may be missing, and
both old (1.20: no `ready`, `terminating`, `SuccessCriteriaMet`, `FailureTarget`,
`DisruptionTarget`) and new objects are understood. Nothing here does I/O.

**The termination-message contract.** The runner writes one JSON object (≤ 4 KiB, the
kubelet's limit) to the container's termination-message path when it ends::

    {"result": {"uri": "gs://…/result.pkl", "size": 123, "sha256": "<64 hex>"},
     "reason": "UserError", "exception_type": "ValueError", "message": "bad input"}

Every key is optional. `result` is the result envelope in the store (written on success
*and* when the function raised); `reason` is the runner's failure reason; `exception_type`
names the function's exception (it implies `UserError`); `message` is short text. Anything
that is not such an object (e.g. a log tail from `FallbackToLogsOnError`) is plain text and
ends up in `message`. A `result` without a string `uri`, an int `size` and a hex `sha256` is
dropped, because the client checks the result against that digest.

**Decisions on odd objects** (each covered by a test on a real dump):

* A Job with `Failed` (e.g. `DeadlineExceeded`) while `succeeded` already reached
  `spec.completions` (kubernetes#90551) is SUCCEEDED: the function finished and its result
  is in the store. Without the Job's spec the completions are unknown and the controller's
  verdict stands.
* A pod that ended `Succeeded` but carries a `DisruptionTarget` condition (kubelet eviction
  whose process exited 0 on SIGTERM) is not a success unless the runner reported a result:
  it is FAILED, reason `Evicted`/`Preempted`.
* `DisruptionTarget` reasons: `PreemptionByScheduler` (1.27+; `PreemptionByKubeScheduler`
  in 1.26) and `DeletionByTaintManager` (the node was tainted `NoExecute`, e.g. reclaimed)
  mean another party took the node → `Preempted`; `TerminationByKubelet` (node pressure or
  node shutdown) and `EvictionByEvictionAPI` (drain) → `Evicted`, except a node shutdown
  under a spot job's pod (label `kinetic.dev/spot`): its VM was reclaimed, `Preempted`
  (GKE reclaims spot VMs by shutting the node down); `DeletionByPodGC` (the
  node is gone) → `Lost`. Before 1.26 a pod `status.reason` of `Evicted`/`Shutdown`/
  `Terminated` says the same.
* A pod with a `deletionTimestamp` still counts as running until it is gone; without a
  cancel request its reason is `Terminating` (the Job controller will replace it).
* A failed pod of a Job that still has retries left is PENDING, reason `Retrying`.
* A Job `Complete`, or `Failed` with `BackoffLimitExceeded`, whose pod still looks alive is
  the Job's watch overtaking the pod's: the pod's own end is awaited, since it carries the
  result (a success) or says why (`Evicted`, the job's error…: whether to retry).
* Cancelling: while any pod is not finished the phase stays RUNNING/PENDING with reason
  `Cancelling`; then CANCELLED. A job that finished before the cancel keeps its outcome. Pass
  the cancel time to tell "finished before" from "finished because of" the cancel; with a
  plain `True` a success is kept and a failure (likely our own kill) becomes CANCELLED.
* `previous` (the CR's current `.status`) makes terminal states sticky, so a Job or pod
  deleted later (TTL, garbage collection) never rewrites a finished job's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kinetic.k8s.kueue import queue_of
from kinetic.k8s.kueue_workload import KueueView
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus, utcnow
from kinetic.wire.termination import parse_termination_message, valid_resources, valid_result
from kinetic_operator.kueue_status import current_pods, is_suspended, queued_message
from kinetic_operator.objects import (
    Obj,
    condition,
    container_statuses,
    container_times,
    deciding_container,
    describe_exit,
    disruption,
    iso,
    meta,
    phase_of,
    time_of,
    unschedulable,
)

MESSAGE_LIMIT = 2048  # keep the CR small; scheduler messages can be long

# Waiting reasons that mean "this will not start by itself": reported while pending.
_PULL_PROBLEMS = {"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"}
_START_PROBLEMS = {"CrashLoopBackOff", "RunContainerError", "PostStartHookError"}
_CREATE_PROBLEMS = {"CreateContainerConfigError", "CreateContainerError"}
PROBLEM_WAITING = frozenset(_PULL_PROBLEMS | _START_PROBLEMS | _CREATE_PROBLEMS)
_TERMINAL = {s.value for s in JobStatus if s.is_terminal}
# DerivedStatus field → camelCase key in the KineticJob's .status
_PATCH_KEYS = {
    **{k: k for k in ("phase", "reason", "message", "attempts", "result", "resources")},
    **{"started": "startTime", "finished": "completionTime", "pod_name": "podName"},
    **{"node_name": "nodeName", "exit_code": "exitCode"},
}


@dataclass(frozen=True)
class DerivedStatus:
    """What the KineticJob's `.status` should say. `phase` is a `JobStatus` value."""

    phase: str
    reason: str | None = None
    message: str | None = None
    started: str | None = None
    finished: str | None = None
    attempts: int = 0
    pod_name: str | None = None
    node_name: str | None = None
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    # What the job used, from the runner's termination message (kinetic.job.container_use).
    resources: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return JobStatus(self.phase).is_terminal

    def to_patch(self) -> dict[str, Any]:
        """The camelCase `.status` body. None values are kept: in a merge patch they
        remove stale fields (an old `Unschedulable` reason once the pod runs)."""
        return {key: getattr(self, name) for name, key in _PATCH_KEYS.items()}

    @classmethod
    def from_status(cls, status: Obj) -> DerivedStatus:
        """Read back a `.status` written by `to_patch` (unknown keys ignored)."""
        values: dict[str, Any] = {name: status.get(key) for name, key in _PATCH_KEYS.items()}
        values.update(phase=str(values["phase"] or JobStatus.PENDING.value))
        values.update(attempts=int(values["attempts"] or 0))
        resources = valid_resources(values["resources"])
        return cls(**{**values, "result": valid_result(values["result"]), "resources": resources})


def derive_status(
    job: Obj | None,
    pods: Sequence[Obj],
    *,
    previous: Obj | None = None,
    cancel_requested: bool | datetime | str = False,
    job_created: bool = False,
    now: datetime | None = None,
    kueue: KueueView | None = None,
) -> DerivedStatus:
    """Derive the KineticJob status from its Job (None if absent) and the Job's pods.

    `previous` is the CR's current `.status`; `cancel_requested` is False, True, or the
    time of the request; `job_created` says the operator already created the Job, so its
    absence now means it was deleted (FAILED, `Lost`) rather than not created yet; `now`
    stamps ends the objects do not date (a cancel, a lost Job).
    """
    now = now or utcnow()
    if previous and previous.get("phase") in _TERMINAL:
        return DerivedStatus.from_status(previous)  # a finished job stays as it finished
    pods = sorted(pods, key=lambda p: iso(meta(p, "creationTimestamp")) or "")  # oldest first
    pods = current_pods(job, pods)  # Kueue: an earlier admission's pods are not this run's
    st = _derive(job, pods, job_created)
    if job is not None and st.reason == Reason.QUEUED:
        st = replace(st, message=queued_message(job, previous, kueue))  # kueue: Kueue's word
    if cancel_requested:
        st = _apply_cancel(st, pods, cancel_requested, now)
    started, attempts, result = _started(st, pods, job), _attempts(job, pods), st.result
    if previous:  # keep what an earlier look saw and the objects may no longer show
        started = min(filter(None, [started, iso(previous.get("startTime"))]), default=None)
        attempts = max(attempts, int(previous.get("attempts") or 0))
        result = result or valid_result(previous.get("result"))
    if st.phase == JobStatus.CANCELLED:
        result = None  # a cancelled job has no result to collect
    finished = st.finished or (iso(now) if st.is_terminal else None)
    st = replace(st, started=started, finished=finished, attempts=attempts, result=result)
    return replace(st, message=_truncate(st.message))


# --- the decision ----------------------------------------------------------------------


def _derive(job: Obj | None, pods: list[Obj], job_created: bool) -> DerivedStatus:
    current = pods[-1] if pods else None
    if job is None:
        if current is not None:  # the Job is gone or not seen yet: the pod's end is the end
            return _from_pod(current)
        if job_created:
            return _status(JobStatus.FAILED, Reason.LOST, "the Job was deleted before it finished")
        return _status(JobStatus.PENDING, None, "waiting for the operator to create the Job")
    jst, spec = job.get("status") or {}, job.get("spec")
    spec = spec if isinstance(spec, Mapping) else None
    failed = condition(job, "Failed") or condition(job, "FailureTarget")
    if condition(job, "Complete") or condition(job, "SuccessCriteriaMet"):
        return _success(job, pods)
    if failed is not None:
        # kubernetes#90551: Failed although the completions were reached. Only a Job whose
        # spec we can see proves that; a status fragment keeps the controller's verdict.
        if spec is not None and _succeeded(job, pods) >= (spec.get("completions") or 1):
            done, note = _success(job, pods), "the Job controller also reported "
            note += f"{failed.get('reason')} (kubernetes#90551)"
            return replace(done, message="; ".join(filter(None, [done.message, note])))
        return _job_failure(_deadline_race(failed, job, spec), pods)
    if (spec or {}).get("suspend") or condition(job, "Suspended"):
        msg = (condition(job, "Suspended") or {}).get("message") or "Job suspended"
        # In a Kueue queue: waiting for admission, or preempted (kueue_status.py).
        return _status(JobStatus.PENDING, Reason.QUEUED if queue_of(job) else Reason.SUSPENDED,
                       msg)  # fmt: skip
    if current is not None and phase_of(current) == "Failed":
        outcome = _from_pod(current)
        n_failed = max(jst.get("failed") or 0, sum(phase_of(p) == "Failed" for p in pods))
        if n_failed > (spec or {}).get("backoffLimit", 6):
            return outcome  # the controller has not written Failed yet; nothing will retry
        why = ": ".join(filter(None, [outcome.reason, outcome.message]))
        msg = f"attempt {n_failed} failed ({why}); retrying"
        return replace(outcome, phase=JobStatus.PENDING, reason=Reason.RETRYING, message=msg)
    if current is not None:
        return _from_pod(current)
    # No pods seen: the Job's counters. 1.20 has no `ready`, so an active pod counts as running.
    active, ready, succeeded = jst.get("active"), jst.get("ready"), jst.get("succeeded")
    if active and (ready is None or ready > 0 or (succeeded or 0) > 0):
        return _status(JobStatus.RUNNING, None, None)
    return _status(JobStatus.PENDING, None, "waiting for the Job controller to start a pod")


def _success(job: Obj, pods: list[Obj]) -> DerivedStatus:
    finished = iso((job.get("status") or {}).get("completionTime"))
    done = [p for p in pods if phase_of(p) == "Succeeded"]
    live = [p for p in pods if phase_of(p) not in ("Succeeded", "Failed")]
    if not done and live:
        # The Job's watch overtook its pod's: the pod's end carries the result (its
        # termination message), so wait for that event rather than finish without it.
        return _from_pod(live[-1])
    if not done:
        return _status(JobStatus.SUCCEEDED, None, None, finished=finished)
    outcome = _from_pod(done[-1])  # may be FAILED: a disrupted "success" without a result
    return replace(outcome, finished=outcome.finished or finished)


def _deadline_race(cond: Obj, job: Obj, spec: Obj | None) -> Obj:
    """1.20's Job controller checks the backoff limit before the deadline: when it kills
    the pods at the deadline and sees them fail before its status write lands, it says
    BackoffLimitExceeded. A failure at or past startTime + activeDeadlineSeconds is the
    deadline's doing."""
    deadline = (spec or {}).get("activeDeadlineSeconds")
    start = time_of((job.get("status") or {}).get("startTime"))
    at = time_of(cond.get("lastTransitionTime"))
    if cond.get("reason") != "BackoffLimitExceeded" or not (deadline and start and at):
        return cond
    if at < start + timedelta(seconds=int(deadline)):
        return cond
    return {**cond, "reason": Reason.DEADLINE, "message": "Job was active longer than "
            f"specified deadline ({deadline}s)"}  # fmt: skip


def vanished(pod: Obj, job: Obj | None, now: datetime | None = None) -> str | None:
    """Why a pod that was just deleted counts as a lost attempt, or None when it does not.

    Before 1.26 a pod deleted while it ran (its node removed and the pod garbage-collected,
    a drain, a `kubectl delete pod`) leaves no failure behind: the Job controller quietly
    starts another. Counting it as ``Lost`` keeps every attempt in the record and under the
    retry budget. A pod that had finished, or that the Job controller removed itself (the
    Job finished or its deadline passed), is not lost.
    """
    if phase_of(pod) in ("Succeeded", "Failed") or job is None:
        return None
    if queue_of(job) and (is_suspended(job) or pod not in current_pods(job, [pod])):
        return None  # Kueue preempted the Job: its pods go, and it waits to be admitted again
    if condition(job, "Complete") or condition(job, "Failed"):
        return None
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    start = time_of((job.get("status") or {}).get("startTime"))
    if deadline and start and (now or utcnow()) >= start + timedelta(seconds=int(deadline) - 1):
        return None  # the Job controller's own kill at the deadline
    node = (pod.get("spec") or {}).get("nodeName")
    where = f" on node {node}" if node else ""
    return (
        f"pod {meta(pod, 'name')}{where} was deleted before it finished "
        "(its node gone or drained, or the pod removed)"
    )


def disrupted_end(pod: Obj, job: Obj | None) -> tuple[str, str | None] | None:
    """(reason, message) when a pod that was just deleted had ended pushed off its node (a
    ``DisruptionTarget``: preempted, evicted…) while its Job still ran; None otherwise.

    A 1.26+ taint manager (a reclaimed spot node) or a drain marks the pod, then deletes it
    with its grace period. A Job controller that does not count a failed pod deleted at
    once (1.20) quietly starts another under the same attempt; the attempt ends here
    instead, recorded with its disruption and retried under the budget."""
    if phase_of(pod) not in ("Succeeded", "Failed") or job is None or disruption(pod) is None:
        return None
    if condition(job, "Complete") or condition(job, "Failed"):
        return None  # the Job's own verdict, its pods included, says how the attempt ended
    ended = _finished_pod(pod)
    if ended.phase != JobStatus.FAILED.value:  # a result the runner reported stands
        return None
    return ended.reason or Reason.EVICTED, ended.message


def _job_failure(cond: Obj, pods: list[Obj]) -> DerivedStatus:
    reason, finished = cond.get("reason") or "Failed", iso(cond.get("lastTransitionTime"))
    failed = [_from_pod(p) for p in pods if phase_of(p) == "Failed"]
    live = [p for p in pods if phase_of(p) not in ("Succeeded", "Failed")]
    if reason == Reason.BACKOFF_LIMIT_EXCEEDED and not failed and live:
        # The Job's verdict came before its pod's end reached us (separate watches): the
        # pod says why (Evicted or the job's own error), so wait for it rather than
        # record the count as the cause. Its event follows.
        return _from_pod(live[-1])
    if failed and reason != Reason.DEADLINE:  # the pod's own end says more than the count
        return replace(failed[-1], finished=failed[-1].finished or finished)
    # No pod left, or the deadline killed it: its exit is a consequence, not the cause.
    keys = ("pod_name", "node_name", "exit_code") if failed else ()
    where = {k: getattr(failed[-1], k) for k in keys}
    return _status(JobStatus.FAILED, reason, cond.get("message"), finished=finished, **where)


def _from_pod(pod: Obj) -> DerivedStatus:
    st = _finished_pod(pod) if phase_of(pod) in ("Succeeded", "Failed") else _live_pod(pod)
    return replace(
        st, pod_name=meta(pod, "name"), node_name=(pod.get("spec") or {}).get("nodeName")
    )


def _finished_pod(pod: Obj) -> DerivedStatus:
    st = pod.get("status") or {}
    name, term = deciding_container(pod)
    report, text = parse_termination_message(term.get("message"))
    code, result = term.get("exitCode"), report.result if report else None
    kw: dict[str, Any] = {
        "exit_code": code,
        "result": result,
        "finished": iso(term.get("finishedAt")),
        "resources": report.resources if report else None,
    }
    disrupted = disruption(pod)
    if phase_of(pod) == "Succeeded" and (disrupted is None or result is not None):
        return _status(JobStatus.SUCCEEDED, None, text, **kw)
    if disrupted is not None:  # pushed off the node: that is the story, not the exit code
        return _status(JobStatus.FAILED, *disrupted, **kw)
    # The kernel killed the job's process over the container's memory limit: the runner
    # only saw a SIGKILL ("Killed"), the container runtime knows it was the OOM killer.
    runner_saw_kill = not report or report.reason in (None, Reason.KILLED)
    oom = term.get("reason") == Reason.OOM and runner_saw_kill
    if report and (report.reason or report.exception_type) and not oom:
        msg = ": ".join(filter(None, [report.exception_type, report.message]))
        return _status(JobStatus.FAILED, report.reason or Reason.USER_ERROR, msg, **kw)
    if term.get("reason") == Reason.OOM:
        msg = f"container {name} ran out of memory and was killed (exit code {code})"
        return _status(JobStatus.FAILED, Reason.OOM, msg, **kw)
    for cond in st.get("conditions") or []:
        # e.g. Kueue's TerminationTarget: someone stopped the pod; say who, and why it waited.
        if cond.get("type", "").endswith("Target") and cond.get("status") == "True":
            msg = cond.get("message") or ""
            if (never := unschedulable(pod)) is not None:
                msg += f" (never scheduled: {never.get('message')})"
            kw["finished"] = kw["finished"] or iso(cond.get("lastTransitionTime"))
            return _status(JobStatus.FAILED, cond.get("reason") or cond["type"], msg, **kw)
    if code is not None:
        msg = f"container {name} exited with code {describe_exit(code)}"
        return _status(JobStatus.FAILED, Reason.EXIT_CODE, f"{msg}: {text}" if text else msg, **kw)
    msg = st.get("message") or "the pod failed without a container exit status"
    return _status(JobStatus.FAILED, st.get("reason") or Reason.EXIT_CODE, msg)


def _live_pod(pod: Obj) -> DerivedStatus:
    st = pod.get("status") or {}
    for init, cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in PROBLEM_WAITING:
            msg, last = waiting.get("message") or "", (cs.get("lastState") or {}).get("terminated")
            if last:  # why the last run ended says more than "back-off 40s"
                msg += f"; last exit: {last.get('reason')} (exit code "
                msg += f"{describe_exit(last.get('exitCode'))})"
                msg += f": {last['message'].strip()}" if last.get("message") else ""
            msg = f"init container {cs.get('name')}: {msg}" if init else msg
            code = (last or {}).get("exitCode")
            return _status(JobStatus.PENDING, waiting["reason"], msg, exit_code=code)
    if (cond := unschedulable(pod)) is not None:
        return _status(JobStatus.PENDING, cond.get("reason"), cond.get("message"))
    if st.get("phase") == "Unknown":  # the node stopped reporting; container states are stale
        return _status(
            JobStatus.RUNNING, st.get("reason") or Reason.NODE_UNREACHABLE, st.get("message")
        )
    if any(
        "running" in (cs.get("state") or {}) for init, cs in container_statuses(pod) if not init
    ):
        if meta(pod, "deletionTimestamp"):
            return _status(JobStatus.RUNNING, Reason.TERMINATING, "the pod is being deleted")
        return _status(JobStatus.RUNNING, None, None)
    for _init, cs in container_statuses(pod):  # ContainerCreating, PodInitializing…
        if waiting := (cs.get("state") or {}).get("waiting"):
            return _status(JobStatus.PENDING, waiting.get("reason"), waiting.get("message"))
    if condition(pod, "PodScheduled"):
        node = (pod.get("spec") or {}).get("nodeName")
        return _status(
            JobStatus.PENDING, Reason.SCHEDULED, f"scheduled to {node}" if node else None
        )
    return _status(JobStatus.PENDING, None, None)


def _apply_cancel(
    st: DerivedStatus, pods: list[Obj], cancel: bool | datetime | str, now: datetime
) -> DerivedStatus:
    at = time_of(cancel) if isinstance(cancel, datetime | str) else None
    if st.is_terminal:
        end = time_of(st.finished)
        # Kubernetes stamps times to the second: a pod "finished at 12:00:05" may have
        # ended at 12:00:05.9, after a cancel at 12:00:05.3. Only a whole second earlier
        # is surely before the cancel.
        if at is not None and end is not None and end + timedelta(seconds=1) <= at:
            return st  # it finished before anyone asked to cancel it
        if at is None and st.phase == JobStatus.SUCCEEDED:
            return st  # no time to compare: a success is kept
    live = [p for p in pods if phase_of(p) not in ("Succeeded", "Failed")]
    if live:
        running = any(_from_pod(p).phase == JobStatus.RUNNING for p in live)
        phase = JobStatus.RUNNING if running else JobStatus.PENDING
        msg = f"cancel requested; waiting for {len(live)} pod(s) to stop"
        return replace(st, phase=phase, reason=Reason.CANCELLING, message=msg, finished=None)
    ends = [t for p in pods for t in container_times(p, "finishedAt")]
    end = max(ends) if ends and at is not None and max(ends) >= at else now
    st = replace(st, phase=JobStatus.CANCELLED, reason=Reason.CANCELLED, finished=iso(end))
    return replace(st, message="cancelled on request")


# --- small readers ---------------------------------------------------------------------


def _status(phase: JobStatus, reason: str | None, message: str | None, **kw: Any) -> DerivedStatus:
    return DerivedStatus(phase=phase.value, reason=reason, message=message or None, **kw)


def _succeeded(job: Obj, pods: list[Obj]) -> int:
    counted = (job.get("status") or {}).get("succeeded") or 0
    return max(counted, sum(phase_of(p) == "Succeeded" and not disruption(p) for p in pods))


def _attempts(job: Obj | None, pods: list[Obj]) -> int:
    st = (job or {}).get("status") or {}
    counted = sum(st.get(k) or 0 for k in ("active", "succeeded", "failed", "terminating"))
    return max(counted, len(pods))


def _started(st: DerivedStatus, pods: list[Obj], job: Obj | None) -> str | None:
    """When the job first ran: the earliest container start, else the pod or Job start
    once we know it got that far (a pod pulling its image has not started)."""
    if starts := [t for p in pods for t in container_times(p, "startedAt")]:
        return iso(min(starts))
    if st.phase in (JobStatus.PENDING, JobStatus.CANCELLED):
        return None
    candidates = [(p.get("status") or {}).get("startTime") for p in [*pods, job or {}]]
    return min(filter(None, map(iso, candidates)), default=None)


def _truncate(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[: MESSAGE_LIMIT - 1] + "…" if len(text) > MESSAGE_LIMIT else text or None
