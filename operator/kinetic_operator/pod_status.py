"""What one pod says about its attempt: running, waiting and why, or how it ended (pure).

Where it sits: reconcile.py's ``derive_status`` reads a Job's current pod through
``from_pod``; the Controller (controller.py) asks ``vanished`` and ``disrupted_end`` about a
pod that was just deleted, to count a lost or pushed-off attempt. The rules on odd pods
(disruptions, OOM kills, Kueue's stop conditions, problem waits) are listed in
reconcile.py's docstring, each tied to a test on a real dump.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kinetic.k8s.kueue import queue_of
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus, utcnow
from kinetic.wire.termination import parse_termination_message
from kinetic_operator.derived_status import DerivedStatus, status_of
from kinetic_operator.kueue_status import current_pods, is_suspended
from kinetic_operator.objects import (
    Obj,
    condition,
    container_statuses,
    deciding_container,
    describe_exit,
    disruption,
    iso,
    meta,
    phase_of,
    time_of,
    unschedulable,
)

# Waiting reasons that mean "this will not start by itself": reported while pending.
_PULL_PROBLEMS = {"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"}
_START_PROBLEMS = {"CrashLoopBackOff", "RunContainerError", "PostStartHookError"}
_CREATE_PROBLEMS = {"CreateContainerConfigError", "CreateContainerError"}
PROBLEM_WAITING = frozenset(_PULL_PROBLEMS | _START_PROBLEMS | _CREATE_PROBLEMS)


def from_pod(pod: Obj) -> DerivedStatus:
    st = finished_pod(pod) if phase_of(pod) in ("Succeeded", "Failed") else live_pod(pod)
    return replace(
        st, pod_name=meta(pod, "name"), node_name=(pod.get("spec") or {}).get("nodeName")
    )


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
    ended = finished_pod(pod)
    if ended.phase != JobStatus.FAILED.value:  # a result the runner reported stands
        return None
    return ended.reason or Reason.EVICTED, ended.message


def finished_pod(pod: Obj) -> DerivedStatus:
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
        return status_of(JobStatus.SUCCEEDED, None, text, **kw)
    if disrupted is not None:  # pushed off the node: that is the story, not the exit code
        return status_of(JobStatus.FAILED, *disrupted, **kw)
    # The kernel killed the job's process over the container's memory limit: the runner
    # only saw a SIGKILL ("Killed"), the container runtime knows it was the OOM killer.
    runner_saw_kill = not report or report.reason in (None, Reason.KILLED)
    oom = term.get("reason") == Reason.OOM and runner_saw_kill
    if report and (report.reason or report.exception_type) and not oom:
        msg = ": ".join(filter(None, [report.exception_type, report.message]))
        return status_of(JobStatus.FAILED, report.reason or Reason.USER_ERROR, msg, **kw)
    if term.get("reason") == Reason.OOM:
        msg = f"container {name} ran out of memory and was killed (exit code {code})"
        return status_of(JobStatus.FAILED, Reason.OOM, msg, **kw)
    for cond in st.get("conditions") or []:
        # e.g. Kueue's TerminationTarget: someone stopped the pod; say who, and why it waited.
        if cond.get("type", "").endswith("Target") and cond.get("status") == "True":
            msg = cond.get("message") or ""
            if (never := unschedulable(pod)) is not None:
                msg += f" (never scheduled: {never.get('message')})"
            kw["finished"] = kw["finished"] or iso(cond.get("lastTransitionTime"))
            return status_of(JobStatus.FAILED, cond.get("reason") or cond["type"], msg, **kw)
    if code is not None:
        msg = f"container {name} exited with code {describe_exit(code)}"
        return status_of(
            JobStatus.FAILED, Reason.EXIT_CODE, f"{msg}: {text}" if text else msg, **kw
        )
    msg = st.get("message") or "the pod failed without a container exit status"
    return status_of(JobStatus.FAILED, st.get("reason") or Reason.EXIT_CODE, msg)


def live_pod(pod: Obj) -> DerivedStatus:
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
            return status_of(JobStatus.PENDING, waiting["reason"], msg, exit_code=code)
    if (cond := unschedulable(pod)) is not None:
        return status_of(JobStatus.PENDING, cond.get("reason"), cond.get("message"))
    if st.get("phase") == "Unknown":  # the node stopped reporting; container states are stale
        return status_of(
            JobStatus.RUNNING, st.get("reason") or Reason.NODE_UNREACHABLE, st.get("message")
        )
    if any(
        "running" in (cs.get("state") or {}) for init, cs in container_statuses(pod) if not init
    ):
        if meta(pod, "deletionTimestamp"):
            return status_of(JobStatus.RUNNING, Reason.TERMINATING, "the pod is being deleted")
        return status_of(JobStatus.RUNNING, None, None)
    for _init, cs in container_statuses(pod):  # ContainerCreating, PodInitializing…
        if waiting := (cs.get("state") or {}).get("waiting"):
            return status_of(JobStatus.PENDING, waiting.get("reason"), waiting.get("message"))
    if condition(pod, "PodScheduled"):
        node = (pod.get("spec") or {}).get("nodeName")
        return status_of(
            JobStatus.PENDING, Reason.SCHEDULED, f"scheduled to {node}" if node else None
        )
    return status_of(JobStatus.PENDING, None, None)
