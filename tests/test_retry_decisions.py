"""The operator's retry decisions (pure): a failed attempt becomes a scheduled retry, or
the job's end; the next attempt waits for its backoff and gets its own Job."""

from __future__ import annotations

from datetime import timedelta

from kinetic_operator.decisions import Action, decide, status_patch
from kinetic_operator.pod_status import disrupted_end, vanished
from test_reconcile import load

from kinetic.k8s.job_manifest import OperatorConfig, attempt_of, build_job, job_name
from kinetic.model.status import format_time, parse_time, utcnow

UID = "0b7c6a5e-1111-2222-3333-444455556666"


def kj(status=None, **spec):
    body = {"function": "m.f", "store": "gs://b/p", "payloadSha256": "0" * 64, **spec}
    return {
        "metadata": {"name": "train-abc12345", "namespace": "ml", "uid": UID, "generation": 1},
        "spec": body,
        "status": status or {},
    }


def failed_job(name="train-abc12345"):
    return {
        "metadata": {"name": name, "labels": {"kinetic.dev/attempt": "1"}},
        "spec": {"backoffLimit": 0, "completions": 1},
        "status": {"failed": 1, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
    }  # fmt: skip


def failed_pod(reason=None, code=1):
    status = {
        "phase": "Failed",
        "startTime": "2026-11-24T10:00:00Z",
        "containerStatuses": [{"name": "job", "state": {"terminated": {
            "exitCode": code, "reason": "Error", "startedAt": "2026-11-24T10:00:01Z",
            "finishedAt": "2026-11-24T10:00:09Z"}}}],
    }  # fmt: skip
    if reason:
        status.update(reason=reason, message="The node was low on resource: memory.")
    return {
        "metadata": {"name": "train-abc12345-x1", "creationTimestamp": "2026-11-24T10:00:00Z",
                     "labels": {"kinetic.dev/attempt": "1"}},
        "spec": {"nodeName": "node-a"},
        "status": status,
    }  # fmt: skip


RUNNING = {"phase": "RUNNING", "attempts": 1, "jobName": "train-abc12345"}


def test_an_evicted_attempt_becomes_a_scheduled_retry():
    job_cr = kj(RUNNING, retries=2, retryBackoffSeconds=30)
    patch = status_patch(job_cr, failed_job(), [failed_pod("Evicted")], Action())
    assert (patch["phase"], patch["reason"], patch["attempts"]) == ("PENDING", "Retrying", 2)
    (record,) = patch["previousAttempts"]
    assert record["attempt"] == 1 and record["reason"] == "Evicted"
    assert record["nodeName"] == "node-a" and record["startTime"] == "2026-11-24T10:00:01Z"
    assert patch["jobName"] is None and patch.get("result") is None
    assert patch["message"] == f"attempt 1 failed (Evicted); starts at {patch['retryAt']}"
    delay = (parse_time(patch["retryAt"]) - utcnow()).total_seconds()
    assert 28 < delay <= 30
    # The next sync waits for retryAt, then creates attempt 2's Job.
    waiting = kj({**RUNNING, **patch}, retries=2, retryBackoffSeconds=30)
    assert decide(waiting, None, [], store_shared=True).wait_until == patch["retryAt"]
    later = utcnow() + timedelta(seconds=31)
    assert decide(waiting, None, [], store_shared=True, now=later).create_job


def test_a_user_error_ends_the_job_unless_retry_on_error():
    plain = status_patch(kj(RUNNING, retries=3), failed_job(), [failed_pod()], Action())
    assert plain["phase"] == "FAILED" and "previousAttempts" not in plain
    asked = kj(RUNNING, retries=3, retryOnError=True)
    assert status_patch(asked, failed_job(), [failed_pod()], Action())["phase"] == "PENDING"


def test_budgets_run_out():
    spent = {**RUNNING, "attempts": 2, "previousAttempts": [{"attempt": 1, "reason": "Evicted"}]}
    patch = status_patch(kj(spent, retries=1), failed_job(), [failed_pod("Evicted")], Action())
    assert (patch["phase"], patch["reason"]) == ("FAILED", "Evicted")


def test_no_retry_after_a_cancel():
    cancelled = kj(RUNNING, retries=3, cancel=True)
    patch = status_patch(cancelled, failed_job(), [failed_pod("Evicted")], Action())
    assert patch["phase"] == "CANCELLED"


def test_each_attempt_has_its_own_job():
    config = OperatorConfig()
    first, second = build_job(kj(), config), build_job(kj(), config, attempt=2)
    assert first["metadata"]["name"] == "train-abc12345" == job_name("train-abc12345")
    assert second["metadata"]["name"] == "train-abc12345-a2"
    assert attempt_of(second) == 2 and attempt_of({"metadata": {}}) == 1
    pod_labels = second["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["kinetic.dev/attempt"] == "2"
    (container,) = second["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KINETIC_ATTEMPT"] == "2"
    assert second["spec"]["backoffLimit"] == 0  # retries are the operator's, not the Job's
    assert len(job_name("x" * 63, 12)) <= 63


def running_job():
    return {
        "metadata": {"name": "train-abc12345", "labels": {"kinetic.dev/attempt": "1"}},
        "spec": {"backoffLimit": 0, "completions": 1, "activeDeadlineSeconds": 3600},
        "status": {"active": 1, "startTime": format_time(utcnow())},
    }


def running_pod():
    pod = failed_pod()
    pod["status"] = {"phase": "Running", "containerStatuses": [{"name": "job", "state": {
        "running": {"startedAt": "2026-11-24T10:00:01Z"}}}]}  # fmt: skip
    return pod


def test_a_vanished_pod_is_a_lost_attempt():
    """1.20 replaces a deleted pod without a word: the operator counts it as Lost, stops the
    Job's quiet replacement, and retries under the budget."""
    why = vanished(running_pod(), running_job())
    assert why and "was deleted before it finished" in why and "node-a" in why
    job_cr = kj(RUNNING, retries=1, retryBackoffSeconds=5)
    action = decide(job_cr, running_job(), [], store_shared=True, lost=why)
    assert action.delete_job and action.lost == why
    patch = status_patch(job_cr, running_job(), [running_pod()], action)
    assert (patch["phase"], patch["reason"], patch["attempts"]) == ("PENDING", "Retrying", 2)
    (record,) = patch["previousAttempts"]
    assert record["reason"] == "Lost" and record["startTime"] == "2026-11-24T10:00:01Z"
    # Without retries the job ends Lost.
    final = status_patch(kj(RUNNING), running_job(), [running_pod()], action)
    assert (final["phase"], final["reason"]) == ("FAILED", "Lost")


def test_pods_the_job_controller_removed_are_not_lost():
    assert vanished(failed_pod(), running_job()) is None  # it had finished
    done = running_job()
    done["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert vanished(running_pod(), done) is None
    late = running_job()
    late["status"]["startTime"] = format_time(utcnow() - timedelta(hours=2))
    assert vanished(running_pod(), late) is None  # the deadline's kill


# What a 1.26+ taint manager writes on a pod of a reclaimed node before deleting it
# (kubernetes' pkg/controller/tainteviction), verbatim.
TAINT_MANAGER = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByTaintManager",
    "message": "Taint manager: deleting due to NoExecute taint",
    "lastTransitionTime": "2026-11-24T10:00:08Z",
}


def test_a_preempted_pod_deleted_at_once_ends_its_attempt_as_preempted():
    """The taint manager marks the pod, then deletes it; it ends Failed on SIGTERM and is
    gone. The Job (1.20) does not count it and would quietly run another pod under the
    same attempt: the operator records the attempt as Preempted and retries it."""
    pod = failed_pod(code=143)
    pod["status"]["conditions"] = [TAINT_MANAGER]
    assert vanished(pod, running_job()) is None  # it ended: not Lost
    ended = disrupted_end(pod, running_job())
    assert ended == ("Preempted", "Taint manager: deleting due to NoExecute taint")
    job_cr = kj(RUNNING, retries=1, retryBackoffSeconds=0)
    action = decide(job_cr, running_job(), [], store_shared=True, lost=ended[1],
                    lost_reason=ended[0])  # fmt: skip
    assert action.delete_job  # the Job's quiet replacement pod goes with it
    patch = status_patch(job_cr, running_job(), [pod], action)
    assert (patch["phase"], patch["reason"], patch["attempts"]) == ("PENDING", "Retrying", 2)
    (record,) = patch["previousAttempts"]
    assert (record["reason"], record["message"]) == ended
    assert record["exitCode"] == 143 and record["nodeName"] == "node-a"
    final = status_patch(kj(RUNNING), running_job(), [pod], action)  # no retries left
    assert (final["phase"], final["reason"]) == ("FAILED", "Preempted")


def test_disrupted_end_on_a_real_node_shutdown_and_ordinary_ends():
    shutdown = "07-pod-disruptiontarget-terminationbykubelet-node-shutdown-STATUS-ONLY-v1.28.yaml"
    pod = {**failed_pod(), "status": load(shutdown)["status"]}  # as a 1.28 kubelet left it
    assert disrupted_end(pod, running_job()) == (
        "Evicted", "Pod was terminated in response to imminent node shutdown."
    )  # fmt: skip
    assert disrupted_end(pod, failed_job()) is None  # the Job's own verdict covers it
    assert disrupted_end(failed_pod(), running_job()) is None  # it ended by itself
    assert disrupted_end(running_pod(), running_job()) is None  # vanished() covers it
    succeeded = failed_pod(code=0)
    succeeded["status"].update(phase="Succeeded", conditions=[TAINT_MANAGER])
    report = '{"result": {"uri": "gs://b/r.pkl", "size": 1, "sha256": "' + "ab" * 32 + '"}}'
    succeeded["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = report
    assert disrupted_end(succeeded, running_job()) is None  # its stored result stands
