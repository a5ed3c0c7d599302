"""The operator installed by its chart in the cluster, and what a cluster gives jobs:
ServiceAccount tokens, Services (kube-proxy's ClusterIPs and the cluster DNS), Secrets,
hostPath and gs:// stores, sshd, the progress endpoint."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid

import jobfns
import pytest
from helpers import wait_for, wait_log
from kubernetes import client

import kinetic
from kinetic import JobStatus

from . import fns
from .conftest import (
    RELEASE,
    RELEASE_NAMESPACE,
    describe,
    kubectl,
    operator_logs,
    pod_json,
    wait_operator_ready,
)
from .node import NODE_NAME

WAIT = 180


def run_pod(node, namespace: str, name: str, command: str, timeout: float = WAIT) -> str:
    """Run busybox ``command`` in a pod of ``namespace``; its log once it has finished."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "busybox:local", "imagePullPolicy": "Never",
                 "command": ["sh", "-c", command]}
            ],
        },
    }  # fmt: skip
    path = node.dir / f"{namespace}-{name}.json"
    path.write_text(json.dumps(pod))
    kubectl(node, "apply", "-f", str(path))
    wait_for(
        lambda: kubectl(node, "get", "pod", name, "-n", namespace, "-o",
                        "jsonpath={.status.phase}").stdout in ("Succeeded", "Failed"),
        timeout=timeout, interval=0.5, what=f"pod {name} to finish",
    )  # fmt: skip
    return kubectl(node, "logs", name, "-n", namespace).stdout


def test_the_chart_runs_the_operator_in_the_cluster(real_node, release, k8s):
    pod = wait_operator_ready(k8s)
    assert pod.spec.service_account_name == RELEASE  # the chart's own ServiceAccount
    assert pod.spec.node_name == NODE_NAME
    assert pod.spec.containers[0].image == "kinetic:dev"
    assert pod.status.container_statuses[0].container_id.startswith("docker://")
    # Its token reached it (ServiceAccount admission) and it reached the API server through
    # the kubernetes Service: kopf is watching and renews its heartbeat Lease.
    mounts = [m.mount_path for m in pod.spec.containers[0].volume_mounts]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts
    leases = client.CoordinationV1Api(k8s)

    def lease():
        found = leases.list_namespaced_lease(RELEASE_NAMESPACE).items
        return next((x for x in found if x.metadata.name == "kinetic-operator"), None)

    held = wait_for(lease, timeout=WAIT, interval=1, what="the operator's heartbeat Lease")
    assert held.spec.holder_identity, held
    assert "Traceback" not in operator_logs(real_node, 200)


def test_operator_pod_deleted_mid_jobs_the_new_one_adopts_them(user, namespace, real_node):
    core, batch = client.CoreV1Api(user), client.BatchV1Api(user)
    fn = kinetic.run()(jobfns.sleeper)
    jobs = [fn.run_async(15) for _ in range(4)]
    wait_for(lambda: len(batch.list_namespaced_job(namespace).items) == 4, timeout=WAIT,
             interval=0.5, what="the Jobs")  # fmt: skip
    old = wait_operator_ready(user)
    core.delete_namespaced_pod(old.metadata.name, RELEASE_NAMESPACE)
    more = [fn.run_async(1) for _ in range(2)]  # created while the operator is replaced
    new = wait_operator_ready(user, exclude=old.metadata.name)
    assert new.metadata.name != old.metadata.name
    for job in jobs + more:
        state = job.wait(WAIT)
        assert state.status == JobStatus.SUCCEEDED, describe(real_node, namespace, job.job_id)
    names = sorted(j.metadata.name for j in batch.list_namespaced_job(namespace).items)
    assert names == sorted(j.job_id for j in jobs + more)  # one Job each, nothing lost


def test_secret_env_through_a_secret_key_ref_masked(user, namespace, real_node):
    secret = "realnode-s3cr3t-4242"
    job = kinetic.run(secret_env={"API_TOKEN": secret})(jobfns.print_secret).run_async("API_TOKEN")
    assert job.result(timeout=WAIT, cleanup=False) == len(secret)
    pod = pod_json(real_node, namespace, job.job_id)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    ref = env["API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == f"{job.job_id}-env" and "value" not in env["API_TOKEN"]
    assert secret not in job.logs() and "********" in job.logs()
    logs = kubectl(real_node, "logs", "-n", namespace, pod["metadata"]["name"]).stdout
    assert secret not in logs and "the secret is ********!" in logs
    stored = client.CoreV1Api(user).read_namespaced_secret(f"{job.job_id}-env", namespace)
    assert base64.b64decode(stored.data["API_TOKEN"]).decode() == secret


def test_a_jobs_port_through_its_service_from_another_pod(user, namespace, real_node):
    job = kinetic.run(ports=["web:8080/http"])(jobfns.serve_http).run_async(120)
    wait_log(job, "serving", timeout=WAIT)
    web = job.endpoints()["web"]
    assert web.cluster_ip and web.host.startswith(f"{job.job_id}.{namespace}.svc")
    # By name (the cluster DNS) and by ClusterIP (kube-proxy's rules), from a pod.
    out = run_pod(
        real_node, namespace, "client",
        f"wget -qO- http://{job.job_id}:8080/ && echo && wget -qO- http://{web.cluster_ip}:8080/",
    )  # fmt: skip
    assert out.splitlines() == [f"hello from {job.job_id}"] * 2, out
    assert job.cancel(timeout=WAIT).status == JobStatus.CANCELLED


def test_the_file_store_is_shared_across_uids(user, namespace, real_node, shared_store_root):
    """The client (here root) writes the handle and payload; the job, uid 10001, reads them
    and writes its result, which the client reads: the documented setup (chmod 1777 and
    default ACLs) with the store's files at 0666 & ~umask, not mkstemp's 0600."""
    job = kinetic.run()(jobfns.add).run_async(2, 3)
    assert job.result(timeout=WAIT, cleanup=False) == 5
    job_dir = next(shared_store_root.glob(f"*/jobs/{job.job_id}"))
    mine = sorted(str(p) for p in job_dir.iterdir() if p.is_file() and p.stat().st_uid == 0)
    theirs = [p for p in job_dir.rglob("*") if p.is_file() and p.stat().st_uid == 10001]
    assert mine and theirs, sorted(map(str, job_dir.rglob("*")))
    modes = kinetic.run()(fns.file_modes).run_async(mine).result(timeout=WAIT)
    assert all(m & 0o044 == 0o044 for m in modes.values()), modes


@pytest.mark.gcs
def test_a_gs_store_reached_from_the_pods(user, namespace, real_node, monkeypatch):
    from gcs_support import GCSEmulator

    # The emulator listens on docker0's address: pods and this client reach it there.
    try:
        emulator = GCSEmulator(host=real_node.address).start()
    except Exception as exc:
        pytest.skip(f"GCS emulator unavailable: {exc}")
    try:
        bucket = emulator.create_bucket(f"rn-{uuid.uuid4().hex[:8]}")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        monkeypatch.setenv("KINETIC_STORE", f"gs://{bucket}/kinetic")
        env = {"STORAGE_EMULATOR_HOST": emulator.url}
        job = kinetic.run(env=env)(jobfns.train).run_async(2)
        assert job.result(timeout=WAIT, cleanup=False) == {"final_loss": 0.123}, describe(
            real_node, namespace, job.job_id
        )
        assert job.logs().endswith("epoch 0\nepoch 1\n")
    finally:
        emulator.stop()


def test_ssh_into_a_job_with_the_images_sshd(user, namespace, real_node, tmp_path):
    if not shutil.which("ssh"):
        pytest.skip("no ssh client (openssh-client) on this machine")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    fn = kinetic.run(ssh=True, ssh_public_key=f"{key}.pub")(jobfns.cooperative)
    job = fn.run_async(300)
    wait_log(job, "sshd is listening on port 2202", timeout=WAIT)
    ip = client.CoreV1Api(user).read_namespaced_service(job.job_id, namespace).spec.cluster_ip

    def ssh():
        return subprocess.run(
            ["ssh", "-i", str(key), "-p", "2202", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
             "-o", "ConnectTimeout=10", f"kinetic@{ip}", "id -u; hostname"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    # Through the Service's ClusterIP (kube-proxy): until its endpoint is in kube-proxy's
    # rules, connections are refused.
    deadline = time.monotonic() + WAIT
    while (login := ssh()).returncode and time.monotonic() < deadline:
        time.sleep(1)
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["10001", job.state().extra["pod"]]
    assert job.cancel(timeout=WAIT).status == JobStatus.CANCELLED


def test_progress_through_the_in_cluster_operators_endpoint(user, namespace, real_node):
    flag = real_node.dir / f"go-{uuid.uuid4().hex[:6]}"  # (not shared: the job times out)
    job = kinetic.run()(jobfns.progress_then_wait).run_async(str(flag), 600)

    def halfway():
        kj = kubectl(real_node, "get", "kj", job.job_id, "-n", namespace, "-o", "json")
        return (json.loads(kj.stdout).get("status") or {}).get("progressText") == "50%"

    wait_for(halfway, timeout=WAIT, interval=0.5, what="50% in the KineticJob")
    header, row = kubectl(real_node, "get", "kj", job.job_id, "-n", namespace).stdout.splitlines()
    assert row[header.index("PROGRESS") :].split()[0] == "50%", (header, row)
    # Pushed by the pod to http://kinetic-operator.kinetic.svc:8081 (the cluster DNS, then
    # kube-proxy): a report that did not get through would say so in the job's log.
    assert "did not reach the cluster" not in job.logs()
    assert "no longer reach the cluster" not in job.logs()
    assert job.cancel(timeout=WAIT).status == JobStatus.CANCELLED


def test_shell_and_port_forward_through_the_real_kubelet(user, namespace, real_node):
    """`kinetic jobs shell` and `port-forward`: the API server's pods/exec and
    pods/portforward, streamed by the kubelet from the container (dockershim)."""
    import re
    import signal
    import sys
    import urllib.request

    job = kinetic.run(ports=["web:8080/http"])(jobfns.serve_http).run_async(300)
    wait_log(job, "serving", timeout=WAIT)
    # The log (through the store) can be ahead of the KineticJob's phase.
    wait_for(lambda: job.status() == JobStatus.RUNNING, timeout=WAIT, what="RUNNING")
    script = 'echo "$(id -u)|$KINETIC_JOB_ID"; echo to-stderr >&2; exit 3'
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "shell", job.job_id, "--", "sh", "-c",
         script], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 3, out
    assert out.stdout == f"10001|{job.job_id}\n" and "to-stderr" in out.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic.cli", "jobs", "port-forward", job.job_id, "web", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr
        lines: list[str] = []
        match = None
        for _ in range(20):  # the test kubeconfig skips TLS checks: urllib3 warns first
            lines.append(proc.stderr.readline())
            if match := re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> web", lines[-1]):
                break
        assert match, lines
        url = f"http://127.0.0.1:{match.group(1)}/"
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.read().decode() == f"hello from {job.job_id}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert job.cancel(timeout=WAIT).status == JobStatus.CANCELLED
