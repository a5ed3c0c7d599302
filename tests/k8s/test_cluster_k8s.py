"""`kinetic cluster` on Kubernetes (issue 18 item 3): two accelerator types on two
(simulated) nodes, what a running job's pod requests of one, and jobs pending for the other
and for a type no node has."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_for, wait_log

import kinetic
from kinetic import JobStatus

from .simnode import SimNode

pytestmark = pytest.mark.k8s


def test_capacity_per_accelerator_type(kube, namespace, control_plane):
    t4 = SimNode(
        control_plane.kubeconfig,
        name="sim-t4-node",
        labels={"cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
                "cloud.google.com/gke-nodepool": "t4-pool"},
        capacity={"nvidia.com/gpu": "2", "cpu": "4", "memory": "16Gi"},
    ).start()  # fmt: skip
    jobs = []
    try:
        running = kinetic.run(accelerator="l4")(jobfns.cooperative).run_async(300)
        too_big = kinetic.run(accelerator="t4x4")(jobfns.add).run_async(1, 1)  # 4 of 2 GPUs
        nowhere = kinetic.run(accelerator="h100")(jobfns.add).run_async(1, 1)
        jobs = [running, too_big, nowhere]
        wait_log(running, "working", timeout=120)
        for job in (too_big, nowhere):
            wait_for(lambda j=job: j.state().reason == "Unschedulable", 120, what="Unschedulable")
            assert job.status() == JobStatus.PENDING
        # Reading nodes takes a cluster-wide read: the admin's kubeconfig here.
        env = {**os.environ, "KINETIC_KUBECONFIG": str(control_plane.kubeconfig)}
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "cluster", "--backend", "kubernetes",
             "-o", "json"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        groups = {g["accelerator"]: g for g in json.loads(out.stdout)["groups"]}
        l4, t4_group = groups["nvidia-l4"], groups["nvidia-tesla-t4"]
        assert (l4["nodes"], l4["ready"], l4["allocatable"]["gpu"]) == (1, 1, 1), l4
        assert l4["requested"]["gpu"] == 1 and l4["free"]["gpu"] == 0, l4  # the running job
        assert l4["allocatable"]["cpu"] == 8 and l4["allocatable"]["memory_bytes"] == 32 * 2**30
        assert (t4_group["pool"], t4_group["nodes"], t4_group["allocatable"]["gpu"]) == (
            "t4-pool", 1, 2)  # fmt: skip
        assert t4_group["requested"]["gpu"] == 0 and t4_group["free"]["gpu"] == 2
        assert t4_group["pending_jobs"] == 1, t4_group
        assert groups["nvidia-h100-80gb"]["pending_jobs"] == 1
        assert groups["nvidia-h100-80gb"]["nodes"] == 0
        text = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "cluster", "--backend", "kubernetes"],
            capture_output=True, text=True, env=env, timeout=120,
        ).stdout  # fmt: skip
        assert "nvidia-tesla-t4" in text and "t4-pool" in text and "nvidia-l4" in text, text
        # Alice (the chart's user role) may not list nodes: one line saying so.
        denied = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "cluster", "--backend", "kubernetes"],
            capture_output=True, text=True, env=dict(os.environ), timeout=120,
        )  # fmt: skip
        assert denied.returncode == 1 and "cannot read the cluster's nodes" in denied.stderr
    finally:
        for job in jobs:
            job.cancel(wait=False)
        t4.stop()
