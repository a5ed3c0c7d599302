"""Status derivation over real Job/Pod dumps (../shared/k8s-objects) and 1.20-style objects."""

from __future__ import annotations

import copy
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import unavailable

try:
    from kinetic_operator import derived_status
except ImportError:  # a source checkout without `pip install -e .`: the package is in operator/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
    from kinetic_operator import derived_status

from kinetic_operator.derived_status import DerivedStatus
from kinetic_operator.reconcile import derive_status

from kinetic.spec.accelerators import k8s_scheduling, parse_accelerator
from kinetic.wire.termination import (
    TERMINATION_MESSAGE_LIMIT,
    format_termination_message,
    parse_termination_message,
)

OBJECTS = Path(
    os.environ.get("KINETIC_K8S_OBJECTS")
    or Path(__file__).resolve().parents[2] / "shared" / "k8s-objects"
)
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SHA = "ab" * 32
RESULT = {"uri": "gs://bucket/kinetic/jobs/j1/result.pkl", "size": 321, "sha256": SHA}


class _StringTimes(yaml.SafeLoader):
    """YAML without the timestamp resolver: times stay strings, as in the API's JSON."""


_StringTimes.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(name: str) -> Any:
    if not OBJECTS.is_dir():
        unavailable(f"no k8s object dumps at {OBJECTS} (set KINETIC_K8S_OBJECTS)")
    text = (OBJECTS / name).read_text()
    return json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=_StringTimes)


# How each dump is fed in (SOURCES.md says which are fragments):
#   job   — a Job (or a status-only Job fragment) with no pods;
#   pod   — a pod (or a status-only pod fragment) with no Job: the Job is gone or not seen,
#           so the pod's own end is the job's end;
#   cstat — a bare `status.containerStatuses` list, wrapped in a minimal Pending pod.
EXPECTED: dict[str, tuple[str, str, str | None, str | None]] = {
    "01-job-succeeded-cronjob-owned-gke-2019.json": ("job", "SUCCEEDED", None, None),
    "01-job-succeeded-gke-2018.yaml": ("job", "SUCCEEDED", None, None),
    "01-job-succeeded-k3s-v1.33.json": ("job", "SUCCEEDED", None, None),
    "01-job-succeeded-successcriteriamet-celtest-2026.yaml": ("job", "SUCCEEDED", None, None),
    "01-pod-succeeded-bare-pod-2018.yaml": ("pod", "SUCCEEDED", None, None),
    # A termination message that is not the runner's JSON is just a message.
    "01-pod-succeeded-k3s-v1.33.json": ("pod", "SUCCEEDED", None, "Installing helm chart"),
    "02-job-failed-backofflimitexceeded-failuretarget-celtest-2026.yaml": (
        "job",
        "FAILED",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    ),
    "02-job-failed-backofflimitexceeded-gke-2018.yaml": (
        "job",
        "FAILED",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    ),
    "02-pod-failed-cronjob-job-error-exit3-openshift-insights.json": (
        "pod",
        "FAILED",
        "Error",
        "container auditlog-retention exited with code 3",
    ),
    "02-pod-failed-error-exit1-2018.yaml": ("pod", "FAILED", "Error", "main exited with code 1"),
    "02-pod-failed-job-error-exit1-openshift-insights.json": (
        "pod",
        "FAILED",
        "Error",
        "container script exited with code 1",
    ),
    # Status-only: without the Job's spec its completions are unknown, so the controller's
    # Failed condition stands (with a spec, see test_issue_90551_with_a_kinetic_spec).
    "03-job-failed-deadlineexceeded-STATUS-ONLY-k8s-issue90551.yaml": (
        "job",
        "FAILED",
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    ),
    "03-job-failed-deadlineexceeded-STATUS-ONLY-lfs258-lab-2022.yaml": (
        "job",
        "FAILED",
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    ),
    "04-pod-oomkilled-job-minikube.json": (
        "pod",
        "FAILED",
        "OOMKilled",
        "container memory-eater ran out of memory",
    ),
    # Two containers: the OOM-killed `main` explains the pod, not the `wait` sidecar's exit 0.
    "04-pod-oomkilled-main-container-k3s-argo-TRIMMED.yaml": (
        "pod",
        "FAILED",
        "OOMKilled",
        "container main ran out of memory",
    ),
    "05-pod-pending-insufficient-gpu-minikube.json": (
        "pod",
        "PENDING",
        "Unschedulable",
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are "
        "available: 1 No preemption victims found for incoming pod.",
    ),
    "05-pod-pending-unschedulable-k3s-v1.33.json": (
        "pod",
        "PENDING",
        "Unschedulable",
        "0/1 nodes are available: 1 Insufficient cpu.",
    ),
    "05-pod-pending-unschedulable-openshift-router-insights.json": (
        "pod",
        "PENDING",
        "Unschedulable",
        "1 node(s) didn't have free ports for the requested pod ports",
    ),
    "06-pod-errimagepull-minikube.json": (
        "pod",
        "PENDING",
        "ErrImagePull",
        "x509: certificate is not valid for any names",
    ),
    "06-pod-imagepullbackoff-2019.yaml": (
        "pod",
        "PENDING",
        "ImagePullBackOff",
        'Back-off pulling image "gcr.io/heptio-images/ks-guestbook-demo:0.3"',
    ),
    # Phase Succeeded, exit 0, but the kubelet evicted it: not a clean success.
    "07-pod-disruptiontarget-terminationbykubelet-ephemeral-storage-eviction-STATUS-ONLY-v1.28.yaml": (  # noqa: E501
        "pod",
        "FAILED",
        "Evicted",
        "The node was low on resource: ephemeral-storage.",
    ),
    "07-pod-disruptiontarget-terminationbykubelet-node-shutdown-STATUS-ONLY-v1.28.yaml": (
        "pod",
        "FAILED",
        "Evicted",
        "Pod was terminated in response to imminent node shutdown.",
    ),
    "07-pod-evicted-ephemeral-storage-STATUS-ONLY-2020.yaml": (
        "pod",
        "FAILED",
        "Evicted",
        "Container settlesys was using 47644Ki, which exceeds its request of 0.",
    ),
    # active 1, ready 0, but one of its six completions already succeeded: it has run.
    "08-job-running-active-celtest-2026.yaml": ("job", "RUNNING", None, None),
    # 1.20-era Job: no `ready` field, so an active pod is taken as running.
    "08-job-running-active1-gke-2018.yaml": ("job", "RUNNING", None, None),
    # Running with a deletionTimestamp: still running until the kubelet stops it.
    "08-pod-running-job-owned-terminating-kind-kueue-pr10490.yaml": (
        "pod",
        "RUNNING",
        "Terminating",
        "the pod is being deleted",
    ),
    "09-pod-crashloopbackoff-2018.yaml": (
        "pod",
        "PENDING",
        "CrashLoopBackOff",
        "Back-off 40s restarting failed container=main",
    ),
    "09-pod-crashloopbackoff-containercannotrun-minikube.json": (
        "pod",
        "PENDING",
        "CrashLoopBackOff",
        "last exit: ContainerCannotRun (exit code 127): failed to create shim task: OCI runtime "
        'create failed: runc create failed: unable to start container process: exec: "wge"',
    ),
    "09-pod-crashloopbackoff-k3s-v1.33.json": (
        "pod",
        "PENDING",
        "CrashLoopBackOff",
        "back-off 2m40s restarting failed container=api-server",
    ),
    "09-pod-createcontainerconfigerror-CONTAINERSTATUSES-ONLY-kubewarden-docs.json": (
        "cstat",
        "PENDING",
        "CreateContainerConfigError",
        "container has runAsNonRoot and image will run as root",
    ),
    # Failed before it was ever scheduled: who stopped it, and why it had been waiting.
    "10-pod-gke-nvidia-l4-unschedulable-then-failed-kueue-issue2213.yaml": (
        "pod",
        "FAILED",
        "StoppedByKueue",
        "No matching Workload; restoring pod templates according to existent Workload "
        "(never scheduled: 0/9 nodes are available: 9 node(s) didn't match",
    ),
    # A Job in a Kueue queue (label kueue.x-k8s.io/queue-name): waiting for admission.
    "11-job-suspended-gpu-kueue-issue2391.yaml": (
        "job",
        "PENDING",
        "Queued",
        "waiting in Kueue queue lq-all-resources to be admitted (Job suspended)",
    ),
    "12-pod-init-crashloop-terminationmessage-openshift-insights.json": (
        "pod",
        "PENDING",
        "CrashLoopBackOff",
        "init container vsystem-hana-init: back-off 5m0s",
    ),
}


def feed(mode: str, obj: Any, **kw: Any) -> DerivedStatus:
    if mode == "job":
        return derive_status(obj, [], now=NOW, **kw)
    if mode == "cstat":
        obj = {"status": {"phase": "Pending", "containerStatuses": obj}}
    return derive_status(None, [obj], now=NOW, **kw)


def test_every_dump_has_an_expectation() -> None:
    if not OBJECTS.is_dir():
        unavailable(f"no k8s object dumps at {OBJECTS} (set KINETIC_K8S_OBJECTS)")
    dumps = {p.name for p in OBJECTS.iterdir() if p.suffix in (".json", ".yaml")}
    assert dumps == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_dump(name: str) -> None:
    mode, phase, reason, message = EXPECTED[name]
    st = feed(mode, load(name))
    assert (st.phase, st.reason) == (phase, reason)
    if message is None:
        assert st.message is None
    else:
        assert st.message is not None and message in st.message
    if phase in ("SUCCEEDED", "FAILED"):
        assert st.finished is not None
    else:
        assert st.finished is None
    patch = st.to_patch()
    assert json.loads(json.dumps(patch)) == patch
    assert DerivedStatus.from_status(patch) == st


def test_times_pods_and_exit_codes_from_dumps() -> None:
    st = feed("pod", load("01-pod-succeeded-bare-pod-2018.yaml"))
    assert (st.started, st.finished) == ("2018-12-02T09:15:19Z", "2018-12-02T09:15:29Z")
    assert (st.pod_name, st.node_name, st.exit_code, st.attempts) == ("my-pod", "minikube", 0, 1)
    st = feed("pod", load("04-pod-oomkilled-job-minikube.json"))
    assert (st.exit_code, st.pod_name) == (137, "oom-kill-job3-gbb89")
    st = feed("pod", load("09-pod-crashloopbackoff-containercannotrun-minikube.json"))
    assert st.exit_code == 127
    st = feed("job", load("01-job-succeeded-successcriteriamet-celtest-2026.yaml"))
    assert (st.attempts, st.finished) == (6, "2026-04-26T18:37:06Z")
    assert (
        feed(
            "job", load("02-job-failed-backofflimitexceeded-failuretarget-celtest-2026.yaml")
        ).attempts
        == 7
    )
    st = feed("pod", load("05-pod-pending-unschedulable-k3s-v1.33.json"))
    assert st.started is None and st.node_name is None
    # A status-only eviction gives no time of its own: the time we saw it.
    assert feed("pod", load("07-pod-evicted-ephemeral-storage-STATUS-ONLY-2020.yaml")).finished == (
        "2030-01-01T00:00:00Z"
    )


def test_real_job_with_its_own_pod() -> None:
    # The one true pair in the dumps: k3s' helm-install Job and its pod.
    st = derive_status(
        load("01-job-succeeded-k3s-v1.33.json"), [load("01-pod-succeeded-k3s-v1.33.json")]
    )
    assert (st.phase, st.pod_name, st.exit_code) == ("SUCCEEDED", "helm-install-traefik-vdfpr", 0)
    assert st.message == "Installing helm chart"


def test_failed_job_takes_the_reason_of_its_failed_pod() -> None:
    # Not the same Job in the source (SOURCES.md): paired here as a Job and "its" pod.
    job = load("02-job-failed-backofflimitexceeded-gke-2018.yaml")
    st = derive_status(job, [load("02-pod-failed-error-exit1-2018.yaml")])
    assert (st.phase, st.reason, st.exit_code) == ("FAILED", "Error", 1)
    st = derive_status(job, [load("04-pod-oomkilled-job-minikube.json")])
    assert (st.phase, st.reason) == ("FAILED", "OOMKilled")


def _kinetic_job(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A synthetic minimal Job as the operator creates them (one completion, no restarts)."""
    body = {"completions": 1, "parallelism": 1, "backoffLimit": 0, **spec}
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": body, "status": status}


def test_issue_90551_with_a_kinetic_spec() -> None:
    # Failed/DeadlineExceeded although the single completion succeeded: it succeeded.
    status = load("03-job-failed-deadlineexceeded-STATUS-ONLY-k8s-issue90551.yaml")["status"]
    st = derive_status(_kinetic_job(status, activeDeadlineSeconds=60), [])
    assert st.phase == "SUCCEEDED"
    assert "DeadlineExceeded (kubernetes#90551)" in st.message


def test_failed_pod_of_a_job_with_retries_left_is_retrying() -> None:
    pod = load("02-pod-failed-job-error-exit1-openshift-insights.json")
    st = derive_status(_kinetic_job({"failed": 1}, backoffLimit=2), [pod])
    assert (st.phase, st.reason) == ("PENDING", "Retrying")
    assert "attempt 1 failed (Error: container script exited with code 1)" in st.message
    # backoffLimit 0: the controller has not written Failed yet, but nothing will retry.
    st = derive_status(_kinetic_job({"failed": 1}), [pod])
    assert (st.phase, st.reason) == ("FAILED", "Error")


def test_terminating_pod_of_a_job_and_cancel() -> None:
    pod = load("08-pod-running-job-owned-terminating-kind-kueue-pr10490.yaml")
    job = _kinetic_job(
        {"active": 0, "terminating": 1, "ready": 0, "startTime": "2026-03-24T11:41:40Z"}
    )
    assert derive_status(job, [pod]).reason == "Terminating"
    st = derive_status(job, [pod], cancel_requested=True)
    assert (st.phase, st.reason) == ("RUNNING", "Cancelling")
    st = derive_status(job, [], cancel_requested=True, now=NOW)
    assert (st.phase, st.reason, st.finished) == ("CANCELLED", "Cancelled", "2030-01-01T00:00:00Z")


def test_disrupted_success_with_the_runners_result_is_a_success() -> None:
    # The same eviction, had the runner finished and reported its result first.
    pod = copy.deepcopy(
        load(
            "07-pod-disruptiontarget-terminationbykubelet-ephemeral-storage-eviction-STATUS-ONLY-v1.28.yaml"
        )
    )
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    term["message"] = format_termination_message(result=RESULT)
    st = derive_status(None, [pod])
    assert (st.phase, st.result) == ("SUCCEEDED", RESULT)


def test_gke_gpu_pod_matches_our_scheduling() -> None:
    # A real GKE nvidia-l4 pod: our selectors, tolerations and limits are what GKE expects.
    pod = load("10-pod-gke-nvidia-l4-unschedulable-then-failed-kueue-issue2213.yaml")
    sched = k8s_scheduling(parse_accelerator("l4"))
    assert sched.node_selector.items() <= pod["spec"]["nodeSelector"].items()
    container = pod["spec"]["containers"][0]
    assert sched.limits.items() <= container["resources"]["limits"].items()
    tolerated = {(t.get("key"), t.get("effect")) for t in pod["spec"]["tolerations"]}
    assert {(t["key"], t["effect"]) for t in sched.tolerations} <= tolerated


def test_yaml_datetimes_are_accepted() -> None:
    # yaml.safe_load turns unquoted times into datetimes; the result must be the same.
    if not OBJECTS.is_dir():
        unavailable(f"no k8s object dumps at {OBJECTS} (set KINETIC_K8S_OBJECTS)")
    raw = yaml.safe_load((OBJECTS / "01-pod-succeeded-bare-pod-2018.yaml").read_text())
    assert derive_status(None, [raw]) == feed("pod", load("01-pod-succeeded-bare-pod-2018.yaml"))


# --- 1.20-style objects written here ---------------------------------------------------
# Shaped like kubectl 1.20 output for a Job the operator creates: no `ready`/`terminating`
# on the Job, no SuccessCriteriaMet/FailureTarget, no DisruptionTarget on pods (the
# disruption tests add that condition on purpose, as 1.26+ would).

T0 = "2021-02-01T10:00:00Z"


def job120(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j1", "namespace": "default", "labels": {"kinetic.dev/job-id": "j1"}},
        "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1},
        "status": {"startTime": T0, **status},
    }


def pod120(
    name: str = "j1-abcde",
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    created: str = T0,
    deleting: bool = False,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "creationTimestamp": created}
    if deleting:
        meta.update(deletionTimestamp="2021-02-01T10:05:30Z", deletionGracePeriodSeconds=30)
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions or [],
        "qosClass": "Burstable",
    }
    if phase != "Pending" or state:
        status["startTime"] = created
        status["containerStatuses"] = [
            {
                "name": "job",
                "image": "kinetic:dev",
                "imageID": "",
                "lastState": {},
                "ready": "running" in (state or {}),
                "restartCount": 0,
                "started": "running" in (state or {}),
                "state": state or {},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": "node-a", "restartPolicy": "Never", "containers": [{"name": "job"}]},
        "status": status,
    }


RUNNING = {"running": {"startedAt": "2021-02-01T10:00:05Z"}}


def terminated(code: int, message: str | None = None, reason: str | None = None) -> dict:
    term = {
        "exitCode": code,
        "reason": reason or ("Completed" if code == 0 else "Error"),
        "startedAt": "2021-02-01T10:00:05Z",
        "finishedAt": "2021-02-01T10:05:00Z",
    }
    if message is not None:
        term["message"] = message
    return {"terminated": term}


def test_lifecycle_120() -> None:
    assert derive_status(None, [], now=NOW).phase == "PENDING"
    st = derive_status(job120(active=1), [], now=NOW)
    assert st.phase == "RUNNING"  # 1.20: no `ready`, the active pod is taken as running
    # ... but not by the operator, which watches the pods: the Job's count came before its
    # new pod's event (a new job read RUNNING for a moment, then PENDING again).
    st = derive_status(job120(active=1), [], now=NOW, pods_watched=True)
    assert (st.phase, st.started) == ("PENDING", None)
    creating = pod120(phase="Pending", state={"waiting": {"reason": "ContainerCreating"}})
    st = derive_status(job120(active=1), [creating])
    assert (st.phase, st.reason, st.started) == ("PENDING", "ContainerCreating", None)
    st = derive_status(job120(active=1), [pod120(state=RUNNING)])
    assert (st.phase, st.reason, st.message) == ("RUNNING", None, None)
    assert (st.started, st.pod_name, st.node_name, st.attempts) == (
        "2021-02-01T10:00:05Z",
        "j1-abcde",
        "node-a",
        1,
    )
    use = {"peak_memory_bytes": 2**27, "cpu_seconds": 0.5, "peak_memory_of": "worker"}
    message = format_termination_message(result=RESULT, resources=use)
    ok = pod120(phase="Succeeded", state=terminated(0, message))
    done = job120(succeeded=1, completionTime="2021-02-01T10:05:01Z")
    done["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    st = derive_status(done, [ok])
    assert (st.phase, st.exit_code, st.result) == ("SUCCEEDED", 0, RESULT)
    assert st.to_patch() == {
        "phase": "SUCCEEDED",
        "reason": None,
        "message": None,
        "startTime": "2021-02-01T10:00:05Z",
        "completionTime": "2021-02-01T10:05:00Z",
        "attempts": 1,
        "podName": "j1-abcde",
        "nodeName": "node-a",
        "exitCode": 0,
        "result": RESULT,
        "resources": use,  # the runner's record of what the job used
    }
    assert DerivedStatus.from_status(st.to_patch()).resources == use


def test_user_error_from_the_termination_message() -> None:
    msg = format_termination_message(
        result=RESULT, reason="UserError", exception_type="ValueError", message="bad input"
    )
    st = derive_status(None, [pod120(phase="Failed", state=terminated(1, msg))])
    assert (st.phase, st.reason, st.message) == ("FAILED", "UserError", "ValueError: bad input")
    assert (st.exit_code, st.result) == (1, RESULT)
    # The exception type alone implies UserError; a runner reason is taken as it is.
    st = derive_status(
        None, [pod120(phase="Failed", state=terminated(1, '{"exception_type": "KeyError"}'))]
    )
    assert (st.reason, st.message) == ("UserError", "KeyError")
    msg = format_termination_message(reason="ResultNotSerializable", message="<socket>")
    st = derive_status(None, [pod120(phase="Failed", state=terminated(1, msg))])
    assert (st.reason, st.message) == ("ResultNotSerializable", "<socket>")


@pytest.mark.parametrize(
    "text",
    ["not json {", "[1, 2]", '"a string"', "42", '{"unrelated": 1}', "Traceback (most recent…"],
)
def test_termination_message_that_is_not_the_contract_is_a_message(text: str) -> None:
    assert parse_termination_message(text) == (None, text.strip())
    st = derive_status(None, [pod120(phase="Failed", state=terminated(2, text))])
    assert (st.reason, st.result) == ("Error", None)
    assert st.message == f"container job exited with code 2: {text}"


@pytest.mark.parametrize(
    "bad",
    [
        {"uri": "gs://x", "size": 1, "sha256": "nothex"},
        {"uri": "gs://x", "size": "1", "sha256": SHA},
        {"uri": "", "size": 1, "sha256": SHA},
        {"size": 1, "sha256": SHA},
        {"uri": "gs://x", "size": True, "sha256": SHA},
        "gs://x",
    ],
)
def test_malformed_results_are_dropped(bad: Any) -> None:
    report, _ = parse_termination_message(json.dumps({"result": bad}))
    assert report is not None and report.result is None


def test_termination_message_fits_the_kubelet_limit() -> None:
    text = format_termination_message(result=RESULT, reason="UserError", message="é" * 10_000)
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    report, _ = parse_termination_message(text)
    assert report.result == RESULT and report.message.endswith("…")


def test_oom_and_signals_120() -> None:
    st = derive_status(None, [pod120(phase="Failed", state=terminated(137, reason="OOMKilled"))])
    assert (st.reason, st.exit_code) == ("OOMKilled", 137)
    st = derive_status(None, [pod120(phase="Failed", state=terminated(137))])
    assert (st.reason, st.message) == ("Error", "container job exited with code 137, SIGKILL")


def test_the_kernels_oom_kill_wins_over_the_runners_sigkill() -> None:
    # On a real node the kernel kills the job's process, not the runner: the runner reports
    # a SIGKILL, the container runtime says OOMKilled (found on the real node, tests/realnode).
    killed = format_termination_message(
        reason="Killed", message="the job's process was killed by SIGKILL (out of memory?)"
    )
    state = terminated(137, message=killed, reason="OOMKilled")
    st = derive_status(None, [pod120(phase="Failed", state=state)])
    assert (st.phase, st.reason, st.exit_code) == ("FAILED", "OOMKilled", 137)
    # A job that failed on its own terms keeps its reason, even if something went OOM.
    error = format_termination_message(reason="UserError", exception_type="MemoryError")
    state = terminated(1, message=error, reason="OOMKilled")
    st = derive_status(None, [pod120(phase="Failed", state=state)])
    assert (st.reason, st.message) == ("UserError", "MemoryError")


def test_deadline_exceeded_120() -> None:
    job = job120(failed=1)
    job["status"]["conditions"] = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
            "lastTransitionTime": "2021-02-01T10:01:00Z",
        }
    ]
    st = derive_status(job, [])  # 1.20 deletes the pod
    assert (st.phase, st.reason, st.finished) == (
        "FAILED",
        "DeadlineExceeded",
        "2021-02-01T10:01:00Z",
    )
    killed = pod120(phase="Failed", state=terminated(143))
    st = derive_status(job, [killed])  # the pod's exit is the deadline's consequence
    assert (st.reason, st.exit_code, st.pod_name) == ("DeadlineExceeded", 143, "j1-abcde")


def test_retry_then_running_counts_attempts() -> None:
    first = pod120("j1-aaaaa", phase="Failed", state=terminated(1))
    second = pod120("j1-bbbbb", state=RUNNING, created="2021-02-01T10:06:00Z")
    job = job120(failed=1, active=1)
    job["spec"]["backoffLimit"] = 1
    st = derive_status(job, [second, first])  # order of the list does not matter
    assert (st.phase, st.pod_name, st.attempts) == ("RUNNING", "j1-bbbbb", 2)


def test_cancel_while_running_120() -> None:
    stopping = pod120(state=RUNNING, deleting=True)
    st = derive_status(job120(active=1), [stopping], cancel_requested=True)
    assert (st.phase, st.reason) == ("RUNNING", "Cancelling")
    assert st.message == "cancel requested; waiting for 1 pod(s) to stop"
    # The operator deleted the Job; the pod is gone.
    st = derive_status(None, [], cancel_requested=True, job_created=True, now=NOW)
    assert (st.phase, st.reason, st.finished) == ("CANCELLED", "Cancelled", "2030-01-01T00:00:00Z")
    # Or the pod was killed and the Job counted it as failed (our own kill, not a failure).
    job = job120(failed=1)
    job["status"]["conditions"] = [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    ]
    killed = pod120(phase="Failed", state=terminated(143))
    st = derive_status(job, [killed], cancel_requested="2021-02-01T10:04:00Z", now=NOW)
    assert (st.phase, st.finished) == ("CANCELLED", "2021-02-01T10:05:00Z")


def test_cancel_while_pending_120() -> None:
    unschedulable = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes",
        }
    ]
    waiting = pod120(phase="Pending", conditions=unschedulable, deleting=True)
    st = derive_status(job120(active=1), [waiting], cancel_requested=True)
    assert (st.phase, st.reason) == ("PENDING", "Cancelling")
    st = derive_status(job120(active=1), [], cancel_requested=True, now=NOW)
    assert (st.phase, st.started) == ("CANCELLED", None)


def test_cancel_after_the_job_finished() -> None:
    use = {"peak_memory_bytes": 2**27, "cpu_seconds": 0.5, "peak_memory_of": "worker"}
    message = format_termination_message(result=RESULT, resources=use)
    ok = pod120(phase="Succeeded", state=terminated(0, message))
    # A plain request keeps a success; so does one made after it finished (10:05:00).
    for cancel in (True, "2021-02-01T10:06:00Z"):
        st = derive_status(None, [ok], cancel_requested=cancel)
        assert (st.phase, st.result) == ("SUCCEEDED", RESULT)
    # Requested before it finished: the job saw the cancel and returned — CANCELLED, like
    # the local backend, and no result.
    st = derive_status(None, [ok], cancel_requested=datetime(2021, 2, 1, 10, 4, tzinfo=UTC))
    assert (st.phase, st.result, st.finished) == ("CANCELLED", None, "2021-02-01T10:05:00Z")
    # A failure that ended before the request stays a failure.
    failed = pod120(phase="Failed", state=terminated(1))
    st = derive_status(None, [failed], cancel_requested="2021-02-01T10:06:00Z")
    assert (st.phase, st.reason) == ("FAILED", "Error")


def test_previous_terminal_status_is_sticky() -> None:
    previous = derive_status(
        None,
        [pod120(phase="Succeeded", state=terminated(0, format_termination_message(result=RESULT)))],
    ).to_patch()
    # Later the Job and pods are gone (TTL, GC), and a cancel arrives: nothing changes.
    st = derive_status(None, [], previous=previous, job_created=True, cancel_requested=True)
    assert st.to_patch() == previous
    # A non-terminal previous lends what the objects no longer show (an earlier start,
    # attempts whose pods are gone, a result) but not its phase.
    prev = {"phase": "PENDING", "startTime": "2021-02-01T09:00:00Z", "attempts": 3}
    prev["result"] = RESULT
    st = derive_status(job120(active=1), [], previous=prev)
    assert (st.phase, st.started, st.attempts, st.result) == (
        "RUNNING",
        "2021-02-01T09:00:00Z",
        3,
        RESULT,
    )


def test_lost_and_not_created() -> None:
    st = derive_status(None, [], job_created=True, now=NOW)
    assert (st.phase, st.reason, st.finished) == ("FAILED", "Lost", "2030-01-01T00:00:00Z")
    st = derive_status(None, [], now=NOW)
    assert (st.phase, st.reason, st.message) == (
        "PENDING",
        None,
        "waiting for the operator to create the Job",
    )
    st = derive_status(job120(), [], now=NOW)
    assert (st.phase, st.message) == ("PENDING", "waiting for the Job controller to start a pod")


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("PreemptionByScheduler", "Preempted"),
        ("PreemptionByKubeScheduler", "Preempted"),
        ("DeletionByTaintManager", "Preempted"),
        ("EvictionByEvictionAPI", "Evicted"),
        ("TerminationByKubelet", "Evicted"),
        ("DeletionByPodGC", "Lost"),
        ("SomethingNew", "Evicted"),
    ],
)
def test_disruption_targets(cause: str, reason: str) -> None:
    cond = {"type": "DisruptionTarget", "status": "True", "reason": cause, "message": "by x"}
    pod = pod120(phase="Failed", state=terminated(143), conditions=[cond])
    st = derive_status(None, [pod])
    assert (st.phase, st.reason, st.message, st.exit_code) == ("FAILED", reason, "by x", 143)


def test_node_lost_120() -> None:
    pod = pod120(state=RUNNING)
    pod["status"].update(phase="Unknown", reason="NodeLost", message="Node node-a is unresponsive")
    st = derive_status(job120(active=1), [pod])
    assert (st.phase, st.reason) == ("RUNNING", "NodeLost")


def test_long_messages_are_truncated() -> None:
    cond = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "x" * 9000,
        }
    ]
    st = derive_status(None, [pod120(phase="Pending", conditions=cond)])
    assert len(st.message) == derived_status.MESSAGE_LIMIT and st.message.endswith("…")


def test_cancel_in_the_same_second_as_the_pod_ended() -> None:
    # finishedAt has one-second precision: a pod stamped 10:05:00 that our cancel at
    # 10:05:00.4 killed must not read as "failed before the cancel".
    killed = pod120(phase="Failed", state=terminated(143))
    st = derive_status(None, [killed], cancel_requested="2021-02-01T10:05:00.400000Z", now=NOW)
    assert (st.phase, st.reason) == ("CANCELLED", "Cancelled")
    st = derive_status(None, [killed], cancel_requested="2021-02-01T10:05:01Z", now=NOW)
    assert st.phase == "FAILED"  # a whole second later: it had failed on its own


def test_deadline_reported_as_backoff_limit_by_the_120_race() -> None:
    # 1.20's controller may see the pods it killed at the deadline fail before its own
    # DeadlineExceeded write lands, and then calls it BackoffLimitExceeded.
    job = job120(failed=1)
    job["spec"]["activeDeadlineSeconds"] = 3
    job["status"]["startTime"] = "2021-02-01T10:00:00Z"
    job["status"]["conditions"] = [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "lastTransitionTime": "2021-02-01T10:00:04Z"}
    ]  # fmt: skip
    killed = pod120(phase="Failed", state=terminated(143))
    st = derive_status(job, [killed], now=NOW)
    assert (st.phase, st.reason) == ("FAILED", "DeadlineExceeded")
    job["status"]["conditions"][0]["lastTransitionTime"] = "2021-02-01T10:00:02Z"
    assert derive_status(job, [killed], now=NOW).reason != "DeadlineExceeded"  # before it


def test_job_verdict_before_its_pods_end_waits_for_the_pod() -> None:
    """Separate watches: the Job's BackoffLimitExceeded may arrive while the pod we know
    still runs. The pod's own end (here an eviction) decides, so nothing is final yet."""
    job = job120(failed=1)
    job["status"]["conditions"] = [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    ]
    st = derive_status(job, [pod120(state=RUNNING)], now=NOW)
    assert st.phase == "RUNNING"
    evicted = pod120(phase="Failed", state=terminated(137))
    evicted["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    st = derive_status(job, [evicted], now=NOW)
    assert (st.phase, st.reason) == ("FAILED", "Evicted")
    # With no pod at all the Job's word is all there is.
    assert derive_status(job, [], now=NOW).reason == "BackoffLimitExceeded"


def test_job_complete_before_its_pods_end_waits_for_the_result() -> None:
    job = job120(succeeded=1, completionTime="2021-02-01T10:05:01Z")
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    st = derive_status(job, [pod120(state=RUNNING)], now=NOW)
    assert st.phase == "RUNNING"  # the pod's Succeeded, with the result, is on its way
    use = {"peak_memory_bytes": 2**27, "cpu_seconds": 0.5, "peak_memory_of": "worker"}
    message = format_termination_message(result=RESULT, resources=use)
    ok = pod120(phase="Succeeded", state=terminated(0, message))
    st = derive_status(job, [ok], now=NOW)
    assert (st.phase, st.result) == ("SUCCEEDED", RESULT)


def test_a_node_shutdown_under_a_spot_pod_is_a_preemption() -> None:
    """GKE reclaims a spot VM by shutting its node down (graceful node shutdown): the real
    1.28 dump's pod, labelled as the Job builder labels a spot job's pods, is Preempted;
    the same pod of a job not on spot stays Evicted (see the dump's own expectation)."""
    if not OBJECTS.is_dir():
        unavailable(f"no k8s object dumps at {OBJECTS} (set KINETIC_K8S_OBJECTS)")
    name = "07-pod-disruptiontarget-terminationbykubelet-node-shutdown-STATUS-ONLY-v1.28.yaml"
    pod = load(name)
    spot = {**pod, "metadata": {"labels": {"kinetic.dev/spot": "true"}}}
    st = derive_status(None, [spot], now=NOW)
    assert (st.phase, st.reason) == ("FAILED", "Preempted")
    assert "imminent node shutdown" in (st.message or "")
    # Node pressure on a spot node is still an eviction: the VM was not reclaimed.
    pressure = load(
        "07-pod-disruptiontarget-terminationbykubelet-ephemeral-storage-eviction-STATUS-ONLY-v1.28.yaml"
    )
    st = derive_status(
        None, [{**pressure, "metadata": {"labels": {"kinetic.dev/spot": "true"}}}], now=NOW
    )
    assert (st.phase, st.reason) == ("FAILED", "Evicted")
