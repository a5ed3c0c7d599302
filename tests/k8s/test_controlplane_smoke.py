"""Smoke tests of the test infrastructure: the real control plane with the simulated node.

They pin down the Kubernetes behaviours the kubernetes-backend tests rely on: the real Job
controller, scheduler, garbage collector and RBAC, and the kubelet duties of ``SimNode``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.k8s

T = TypeVar("T")
PY = "python3"


def wait_for(fn: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        if result := fn():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def make_job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "kinetic-test:never-pulled", "command": command}
    container.update(spec.pop("container", {}))
    pod_spec = {"restartPolicy": "Never", "containers": [container], **spec.pop("pod", {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}, **spec},
    }


def job_condition(k8s: Any, ns: str, name: str) -> Any:
    job = client.BatchV1Api(k8s).read_namespaced_job_status(name, ns)
    done = [c for c in job.status.conditions or [] if c.status == "True"]
    return done[0] if done else None


def job_pods(k8s: Any, ns: str, name: str) -> list[Any]:
    return client.CoreV1Api(k8s).list_namespaced_pod(ns, label_selector=f"job-name={name}").items


def terminated(pod: Any) -> Any:
    return pod.status.container_statuses[0].state.terminated


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_job_completes_on_the_sim_node(k8s, namespace, sim_node):
    batch = client.BatchV1Api(k8s)
    batch.create_namespaced_job(namespace, make_job("hi", [PY, "-c", "print('hi')"]))

    cond = wait_for(lambda: job_condition(k8s, namespace, "hi"), what="the Job to finish")
    assert cond.type == "Complete"
    assert batch.read_namespaced_job_status("hi", namespace).status.succeeded == 1
    (pod,) = job_pods(k8s, namespace, "hi")
    assert pod.spec.node_name == sim_node.name
    assert pod.status.phase == "Succeeded"
    assert terminated(pod).exit_code == 0
    assert terminated(pod).reason == "Completed"
    # Through the API server to the simulated kubelet's /containerLogs endpoint.
    log = client.CoreV1Api(k8s).read_namespaced_pod_log(pod.metadata.name, namespace)
    assert log == "hi\n"


def test_failing_command_fails_the_job(k8s, namespace, sim_node):
    job = make_job("boom", [PY, "-c", "import sys; sys.exit(3)"])
    client.BatchV1Api(k8s).create_namespaced_job(namespace, job)

    cond = wait_for(lambda: job_condition(k8s, namespace, "boom"), what="the Job to finish")
    assert (cond.type, cond.reason) == ("Failed", "BackoffLimitExceeded")
    (pod,) = job_pods(k8s, namespace, "boom")
    assert pod.status.phase == "Failed"
    assert (terminated(pod).exit_code, terminated(pod).reason) == (3, "Error")


def test_unmatched_node_selector_stays_pending_unschedulable(k8s, namespace, sim_node):
    core = client.CoreV1Api(k8s)
    selector = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    job = make_job("nogpu", [PY, "-c", "print(1)"], pod={"nodeSelector": selector})
    client.BatchV1Api(k8s).create_namespaced_job(namespace, job)

    def unschedulable() -> Any:
        pods = job_pods(k8s, namespace, "nogpu")
        conds = pods[0].status.conditions or [] if pods else []
        return next((c for c in conds if c.type == "PodScheduled"), None)

    cond = wait_for(unschedulable, what="the scheduler's verdict")
    assert (cond.status, cond.reason) == ("False", "Unschedulable")
    assert "node(s) didn't match" in cond.message
    time.sleep(2)
    (pod,) = job_pods(k8s, namespace, "nogpu")
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name is None
    assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Pending"


def test_active_deadline_kills_the_process(k8s, namespace, sim_node, tmp_path):
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    job = make_job("slow", [PY, "-c", code], activeDeadlineSeconds=3)
    client.BatchV1Api(k8s).create_namespaced_job(namespace, job)

    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the process"))
    cond = wait_for(lambda: job_condition(k8s, namespace, "slow"), what="the deadline")
    # 1.20's controller may call it BackoffLimitExceeded when it sees the pod it killed
    # fail before its own status write lands (kinetic_operator.reconcile handles that).
    assert cond.type == "Failed" and cond.reason in ("DeadlineExceeded", "BackoffLimitExceeded")
    wait_for(lambda: not pid_alive(pid), timeout=30, what="the process to be killed")
    wait_for(lambda: not job_pods(k8s, namespace, "slow"), timeout=30, what="the pod to go")


def test_termination_message_reaches_the_pod_status(k8s, namespace, sim_node):
    # Without mount namespaces the simulated node says where the file is instead.
    write = (
        "import os; path = os.environ.get('KINETIC_TERMINATION_LOG', '/dev/termination-log');"
        "open(path, 'w').write('result: 42')"
    )
    job = make_job("msg", [PY, "-c", write])
    host_file = Path("/dev/termination-log")
    host_before = host_file.read_bytes() if host_file.exists() else None
    client.BatchV1Api(k8s).create_namespaced_job(namespace, job)

    wait_for(lambda: job_condition(k8s, namespace, "msg"), what="the Job to finish")
    (pod,) = job_pods(k8s, namespace, "msg")
    assert terminated(pod).message == "result: 42"
    # The pod's file was private to the pod: this machine's /dev is as it was.
    assert (host_file.read_bytes() if host_file.exists() else None) == host_before


def test_env_and_working_dir(k8s, namespace, sim_node, tmp_path):
    core = client.CoreV1Api(k8s)
    secret = {"metadata": {"name": "creds"}, "data": {"key": base64.b64encode(b"s3cr3t").decode()}}
    core.create_namespaced_secret(namespace, secret)
    env = [
        {"name": "PLAIN", "value": "plain"},
        {"name": "EXPANDED", "value": "$(PLAIN)-x"},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    names = ("PLAIN", "EXPANDED", "SECRET", "POD", "NS")
    code = f"import os; print(*[os.environ[k] for k in {names}], os.getcwd())"
    job = make_job("env", [PY, "-c", code], container={"env": env, "workingDir": str(tmp_path)})
    client.BatchV1Api(k8s).create_namespaced_job(namespace, job)

    wait_for(lambda: job_condition(k8s, namespace, "env"), what="the Job to finish")
    (pod,) = job_pods(k8s, namespace, "env")
    assert terminated(pod).exit_code == 0
    log = core.read_namespaced_pod_log(pod.metadata.name, namespace)
    pod_name = pod.metadata.name
    assert log.split() == ["plain", "plain-x", "s3cr3t", pod_name, namespace, str(tmp_path)]


def test_background_delete_cascades_through_the_garbage_collector(k8s, namespace, sim_node):
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    job = make_job("gc", [PY, "-c", "import time; time.sleep(600)"])
    job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5
    batch.create_namespaced_job(namespace, job)

    def running() -> Any:
        pods = job_pods(k8s, namespace, "gc")
        return pods and pods[0].status.phase == "Running" and pods[0]

    pod = wait_for(running, what="the pod to run")
    worker = sim_node.worker(namespace, pod.metadata.name)
    assert worker and worker.proc and worker.proc.poll() is None

    batch.delete_namespaced_job("gc", namespace, propagation_policy="Background")
    wait_for(lambda: not core.list_namespaced_pod(namespace).items, what="the GC to delete pods")
    assert worker.proc.poll() is not None
    with pytest.raises(ApiException) as e:
        batch.read_namespaced_job("gc", namespace)
    assert e.value.status == 404


def test_service_account_is_bound_by_rbac(control_plane, k8s, namespace):
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "alice"}})
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "alice")

    with control_plane.api_client(kubeconfig) as alice:
        with pytest.raises(ApiException) as e:
            client.BatchV1Api(alice).list_namespaced_job(namespace)
        assert e.value.status == 403

        role = {
            "metadata": {"name": "job-reader"},
            "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}],
        }
        rbac.create_namespaced_role(namespace, role)
        binding = {
            "metadata": {"name": "alice-reads-jobs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "job-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": namespace}],
        }  # fmt: skip
        rbac.create_namespaced_role_binding(namespace, binding)

        def allowed() -> bool:
            try:
                client.BatchV1Api(alice).list_namespaced_job(namespace)
            except ApiException as e:
                if e.status != 403:
                    raise
                return False
            return True

        wait_for(allowed, timeout=10, what="the RoleBinding to take effect")
        with pytest.raises(ApiException) as e:  # exactly what was granted, nothing more
            client.CoreV1Api(alice).list_namespaced_secret(namespace)
        assert e.value.status == 403
