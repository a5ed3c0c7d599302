"""Jobs in real containers: the public API and CLI with backend="kubernetes", the operator
installed by its chart in the cluster, the image built from operator/Dockerfile, a real
kubelet. What the simulated node (tests/k8s) cannot show: the kernel's OOM killer, the
kubelet's signals and grace period, image pulls, `kubectl logs` from the container."""

from __future__ import annotations

import json
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_for, wait_log

import kinetic
from kinetic import JobStatus

from . import fns
from .conftest import describe, kubectl, pod_json
from .node import IMAGE, NODE_NAME

# Real containers start in seconds, but CI machines are slow and shared: generous waits.
WAIT = 180


def test_lifecycle_in_a_real_container(user, namespace, real_node):
    job = kinetic.run()(jobfns.train).run_async(3)
    assert job.result(timeout=WAIT, cleanup=False) == {"final_loss": 0.123}, describe(
        real_node, namespace, job.job_id
    )
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED and state.node == NODE_NAME
    # A real container has a cgroup of its own: the recorded peak is the container's, as the
    # kubelet and the OOM killer count it (kinetic.job.container_use).
    used = state.extra.get("resources") or {}
    assert used.get("peak_memory_of") == "container", used
    assert 1 << 20 < used["peak_memory_bytes"] < 4 << 30, used
    assert job.logs().splitlines()[-3:] == ["epoch 0", "epoch 1", "epoch 2"]
    pod = pod_json(real_node, namespace, job.job_id)
    # A container of the built image, run by the kubelet through Docker.
    status = pod["status"]["containerStatuses"][0]
    assert status["image"] == IMAGE and status["containerID"].startswith("docker://")
    assert status["state"]["terminated"]["exitCode"] == 0
    assert pod["spec"]["nodeName"] == NODE_NAME
    # kubectl logs: the API server asks the kubelet, which reads the container's log.
    logs = kubectl(real_node, "logs", "-n", namespace, pod["metadata"]["name"]).stdout
    assert "epoch 2" in logs
    row = kubectl(real_node, "get", "kj", job.job_id, "-n", namespace).stdout.splitlines()[1]
    assert row.split()[:3] == [job.job_id, "SUCCEEDED", "jobfns.train"]


def test_the_job_runs_as_the_image_user_in_the_pod_cgroup(user, namespace, real_node):
    job = kinetic.run()(fns.where).run_async()
    got = job.result(timeout=WAIT, cleanup=False)
    assert got["uid"] == 10001 and got["kubepods"], got
    assert got["hostname"] == job.state().extra["pod"]


def test_cli_against_the_real_node(user, namespace, real_node):
    job = kinetic.run()(jobfns.train).run_async(2)
    assert job.wait(WAIT).status == JobStatus.SUCCEEDED

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "kinetic.cli", *args], capture_output=True, text=True
        )

    rows = json.loads(cli("jobs", "list", "-o", "json").stdout)
    assert [(r["job_id"], r["status"]) for r in rows] == [(job.job_id, "SUCCEEDED")]
    assert cli("jobs", "logs", job.job_id).stdout.endswith("epoch 0\nepoch 1\n")
    out = cli("jobs", "result", job.job_id, "-o", "json")
    assert json.loads(out.stdout)["value"] == {"final_loss": 0.123}


def test_over_its_memory_limit_the_kernel_kills_it(user, namespace, real_node):
    # 256Mi holds the runner and the job's interpreter; 600 MiB touched does not fit.
    job = kinetic.run(memory="256Mi")(jobfns.hog_memory).run_async(600)
    state = job.wait(WAIT)
    assert state.status == JobStatus.FAILED, describe(real_node, namespace, job.job_id)
    assert state.reason == "OOMKilled", (state, describe(real_node, namespace, job.job_id))
    pod = pod_json(real_node, namespace, job.job_id)
    if pod:  # the operator may have cleaned it up already
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["reason"] == "OOMKilled"


def test_cancel_sigterm_grace_then_sigkill(user, namespace, real_node):
    job = kinetic.run(grace_period=3)(fns.term_then_linger).run_async(600)
    wait_log(job, "working", timeout=WAIT)
    state = job.cancel(timeout=WAIT)
    assert state.status == JobStatus.CANCELLED, describe(real_node, namespace, job.job_id)
    text = job.logs()
    # The signal reached the function inside the container; it ignored it and was killed
    # when the grace period ran out.
    assert "SIGTERM received, lingering" in text, text
    assert "did not stop within 3s: killing it" in text, text
    wait_for(lambda: not pod_json(real_node, namespace, job.job_id), timeout=WAIT,
             what="the pod to be gone")  # fmt: skip
    with pytest.raises(kinetic.JobCancelledError):
        job.result()


def test_an_image_that_cannot_be_pulled_stays_pending(user, namespace, real_node):
    image = "registry.invalid/kinetic:nope"
    job = kinetic.run(image=image)(jobfns.add).run_async(1, 2)

    def pull_failed():
        state = job.state()
        return state if state.reason in ("ErrImagePull", "ImagePullBackOff") else None

    state = wait_for(pull_failed, timeout=WAIT, interval=0.5, what="an image pull error")
    assert state.status == JobStatus.PENDING
    # The kubelet's own message names the image it could not pull.
    assert "registry.invalid" in (state.message or ""), state
    assert job.cancel(timeout=WAIT).status == JobStatus.CANCELLED
