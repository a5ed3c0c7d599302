"""Ports, ssh and shells on the kubernetes backend: the real control plane, the operator as
a process with the chart's RBAC, pods run by the simulated node (on this machine)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jobfns
import pytest
from helpers import ssh_login, wait_for, wait_log
from kubernetes import client

import kinetic
from kinetic import JobStatus

from .cluster_fixtures import pods_of

pytestmark = pytest.mark.k8s
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfz9GZ1mE3oD2u6rRkq3n6cX7h0Xg4o8rQ2mYp1bWcD me@laptop"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def running(job) -> None:
    wait_for(lambda: job.status() == JobStatus.RUNNING, timeout=60, what=f"{job.job_id} RUNNING")


def test_ports_become_container_ports_and_an_owned_service(kube, namespace):
    job = kinetic.run(
        ports=["web:8080/http", "dns:9053/udp", "raw:9000"]
    )(jobfns.cooperative).run_async(120)  # fmt: skip
    running(job)
    core = client.CoreV1Api(kube)
    service = core.read_namespaced_service(job.job_id, namespace)
    kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kinetic.dev", "v1alpha1", namespace, "kineticjobs", job.job_id
    )
    assert kj["spec"]["ports"] == [
        {"name": "web", "port": 8080, "proto": "http"},
        {"name": "dns", "port": 9053, "proto": "udp"},
        {"name": "raw", "port": 9000, "proto": "tcp"},
    ]
    (owner,) = service.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "KineticJob", job.job_id, kj["metadata"]["uid"], True
    )  # fmt: skip
    assert service.spec.type == "ClusterIP" and service.spec.cluster_ip
    assert service.spec.selector == {"kinetic.dev/job-id": job.job_id}
    ports = [
        (p.name, p.port, p.target_port, p.protocol, p.app_protocol) for p in service.spec.ports
    ]
    assert ports == [
        ("web", 8080, "web", "TCP", "http"),
        ("dns", 9053, "dns", "UDP", None),
        ("raw", 9000, "raw", "TCP", None),
    ]
    (pod,) = pods_of(kube, namespace, job.job_id)
    assert {(p.name, p.container_port, p.protocol) for p in pod.spec.containers[0].ports} == {
        ("web", 8080, "TCP"), ("dns", 9053, "UDP"), ("raw", 9000, "TCP")
    }  # fmt: skip
    # The Service selects the job's pod by its labels; shell and port-forward find it.
    assert pod.metadata.labels["kinetic.dev/job-id"] == job.job_id
    from kinetic.backends.k8s_stream import running_pod

    assert running_pod(job) == pod.metadata.name

    endpoints = job.endpoints()
    host = f"{job.job_id}.{namespace}.svc"
    assert {n: (e.host, e.port, e.proto, e.cluster_ip) for n, e in endpoints.items()} == {
        "web": (host, 8080, "http", service.spec.cluster_ip),
        "dns": (host, 9053, "udp", service.spec.cluster_ip),
        "raw": (host, 9000, "tcp", service.spec.cluster_ip),
    }
    assert endpoints["web"].url == f"http://{host}:8080"
    shown = json.loads(cli("jobs", "endpoints", job.job_id, "-o", "json").stdout)
    ip = service.spec.cluster_ip
    assert shown["web"] == {
        "host": host, "port": 8080, "proto": "http", "url": f"http://{host}:8080", "cluster_ip": ip
    }  # fmt: skip

    assert job.cancel().status == JobStatus.CANCELLED
    job.cleanup()  # the KineticJob goes, and the garbage collector takes its Service
    wait_for(
        lambda: not core.list_namespaced_service(
            namespace, label_selector=f"kinetic.dev/job-id={job.job_id}"
        ).items,
        timeout=60, what="the Service collected with its KineticJob",
    )  # fmt: skip


def test_the_job_sees_its_ports_and_a_job_without_ports_gets_no_service(kube, namespace):
    job = kinetic.submit(["sh", "-c", "echo web=$KINETIC_PORT_WEB"], ports=["web:8080"])
    assert job.result(timeout=60, cleanup=False) == 0
    assert job.logs() == "web=8080\n"
    plain = kinetic.run()(jobfns.add).run_async(1, 2)
    assert plain.result(timeout=60, cleanup=False) == 3
    names = [
        s.metadata.name for s in client.CoreV1Api(kube).list_namespaced_service(namespace).items
    ]
    assert names == [job.job_id]
    assert plain.endpoints() == {}


def test_cli_submit_ports_on_the_cluster(kube, namespace):
    out = cli("jobs", "submit", "--port", "api:8443", "-o", "json", "--", "true")
    assert out.returncode == 0, out.stderr
    job_id = json.loads(out.stdout)["job_id"]
    service = wait_for(
        lambda: client.CoreV1Api(kube).list_namespaced_service(namespace).items,
        timeout=60, what="the Service",
    )  # fmt: skip
    assert [(p.name, p.port) for p in service[0].spec.ports] == [("api", 8443)]
    assert kinetic.attach(job_id).result(timeout=60) == 0


def test_without_sshd_in_the_image_the_job_fails_fast(kube, namespace, control_plane):
    fn = kinetic.run(ssh=True, ssh_public_key=KEY, env={"KINETIC_SSHD": "/nonexistent/sshd"})
    job = fn(jobfns.add).run_async(1, 2)
    state = job.wait(60)
    assert state.status == JobStatus.FAILED and state.reason == "SshUnavailable", state
    assert "/nonexistent/sshd" in state.message
    assert "[kinetic]" not in job.logs()  # nothing ran: no sshd note, no output
    # kubectl may have cached discovery from before the CRD was served: let it refresh.
    shown = wait_for(
        lambda: (r := control_plane.kubectl("get", "kj", job.job_id, "-n", namespace,
                                            check=False)).returncode == 0 and r.stdout,
        timeout=30, what="kubectl get kj",
    )  # fmt: skip
    assert "SshUnavailable" in shown


def test_ssh_into_a_job_on_the_cluster(kube, namespace, tmp_path):
    """The simulated node runs the pod on this machine, so its sshd listens here."""
    from kinetic.job.sshd import SshUnavailable, find_program

    try:
        find_program("sshd")
    except SshUnavailable as exc:
        pytest.skip(f"cannot test a real ssh login here: {exc}")
    if not shutil.which("ssh"):
        pytest.skip("no ssh client (openssh-client) on this machine")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    job = kinetic.run(ssh=True, ssh_public_key=f"{key}.pub")(jobfns.cooperative).run_async(120)
    wait_log(job, "sshd is listening on port 2202", timeout=60)
    service = client.CoreV1Api(kube).read_namespaced_service(job.job_id, namespace)
    assert [(p.name, p.port) for p in service.spec.ports] == [("ssh", 2202)]
    login = ssh_login(key, "echo in-the-job")
    assert login.returncode == 0 and login.stdout == "in-the-job\n", login.stderr
    assert job.cancel().status == JobStatus.CANCELLED


def test_shell_and_port_forward_refuse_a_job_that_is_not_running(kube, namespace):
    later = datetime.now(UTC) + timedelta(hours=1)
    job = kinetic.run(start_at=later, ports=["web:8080"])(jobfns.add).run_async(1, 1)
    wait_for(lambda: job.state().reason == "Scheduled", timeout=30, what="Scheduled")
    for args in (("shell", job.job_id), ("port-forward", job.job_id, "web", "0")):
        out = cli("jobs", *args)
        assert out.returncode == 1, out
        assert f"job {job.job_id} is PENDING (Scheduled: starts at" in out.stderr
        assert "not RUNNING" in out.stderr
    out = cli("jobs", "port-forward", job.job_id, "nope")
    assert out.returncode == 2 and "no port named 'nope' (its ports: web)" in out.stderr
    udp = kinetic.run(start_at=later, ports=["dns:9053/udp"])(jobfns.add).run_async(1, 1)
    out = cli("jobs", "port-forward", udp.job_id, "dns")
    assert out.returncode == 2 and "Kubernetes port-forward carries TCP only" in out.stderr
    job.cancel()
    udp.cancel()


def test_the_user_role_allows_exec_and_port_forward(kube, namespace):
    """alice (bound to the chart's user role) may open both streams in her namespace."""
    from kinetic.backends.k8s_client import api_client

    api = client.AuthorizationV1Api(api_client(*_alice()))
    for subresource in ("exec", "portforward"):
        for verb in ("get", "create"):
            review = api.create_self_subject_access_review(
                {"spec": {"resourceAttributes": {
                    "namespace": namespace, "verb": verb, "resource": "pods",
                    "subresource": subresource}}}
            )  # fmt: skip
            assert review.status.allowed, (subresource, verb)


def _alice() -> tuple[str | None, str | None]:
    from kinetic.spec import settings

    return settings.resolve("kubeconfig").value, settings.resolve("context").value


# -- exec and port-forward through the API server (the simulated node's kubelet endpoints) ------
def test_shell_runs_a_command_in_the_jobs_container(kube, namespace):
    job = kinetic.run(env={"GREETING": "hi there"})(jobfns.cooperative).run_async(120)
    wait_log(job, "working", timeout=60)
    script = 'echo "$GREETING|$KINETIC_JOB_ID"; echo to-stderr >&2; exit 3'
    out = cli("jobs", "shell", job.job_id, "--", "sh", "-c", script)
    assert out.returncode == 3, out
    assert out.stdout == f"hi there|{job.job_id}\n"
    assert "to-stderr" in out.stderr
    assert cli("jobs", "shell", job.job_id, "--", "true").returncode == 0
    assert job.cancel().status == JobStatus.CANCELLED


def test_interactive_shell_with_a_terminal(kube, namespace):
    """`kinetic jobs shell ID` on a terminal: sh with a TTY in the container, raw mode here."""
    import os
    import pty
    import select
    import time

    job = kinetic.run()(jobfns.cooperative).run_async(120)
    wait_log(job, "working", timeout=60)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, its stdin and stdout the terminal
        os.execv(sys.executable, [sys.executable, "-m", "kinetic.cli", "jobs", "shell", job.job_id])
    seen = b""

    def read_until(text: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert text in seen, seen

    read_until(b"# " if os.geteuid() == 0 else b"$ ")  # the remote sh's prompt
    os.write(fd, b"tty -s && echo has-a-tty-$((6 * 7))\r")
    read_until(b"has-a-tty-42")
    os.write(fd, b"exit 5\r")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5, seen
    os.close(fd)
    assert job.cancel().status == JobStatus.CANCELLED


def test_port_forward_reaches_the_jobs_port(kube, namespace):
    import re
    import signal
    import socket
    import urllib.request

    with socket.socket() as s:  # the simulated pod's ports are this machine's
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = kinetic.run(ports=[f"web:{port}/http"])(jobfns.serve_http).run_async(120)
    wait_log(job, "serving", timeout=60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic.cli", "jobs", "port-forward", job.job_id, "web", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        for _ in range(20):  # the test kubeconfig skips TLS checks: urllib3 warns first
            lines.append(proc.stderr.readline())
            if match := re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> web", lines[-1]):
                break
        assert match, lines
        local = int(match.group(1))
        for _ in range(3):  # one websocket per connection, each through the API server
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=30) as response:
                assert response.read().decode() == f"hello from {job.job_id}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()
    assert job.cancel().status == JobStatus.CANCELLED


def test_a_refused_service_is_tried_again(kube, namespace, operator):
    """A write the operator cannot make yet (here a quota allows no Service) leaves the
    job PENDING; the operator tries again on its own, so the job runs once it may."""
    core = client.CoreV1Api(kube)
    quota = {"metadata": {"name": "no-services"}, "spec": {"hard": {"services": "0"}}}
    core.create_namespaced_resource_quota(namespace, quota)

    def in_force() -> bool:
        status = core.read_namespaced_resource_quota("no-services", namespace).status
        return (status.hard or {}).get("services") == "0"

    wait_for(in_force, timeout=30, what="the quota in force")
    job = kinetic.submit(["sh", "-c", "echo up"], ports=["web:8080"])
    wait_for(lambda: "exceeded quota" in (job.state().message or ""), timeout=30,
             what="the operator saying why in the KineticJob")  # fmt: skip
    assert "trying again" in operator.tail()
    assert job.state().status == JobStatus.PENDING
    assert jobs_of(kube, namespace) == []  # nothing runs unreachable
    core.delete_namespaced_resource_quota("no-services", namespace)
    assert job.result(timeout=90, cleanup=False) == 0
    assert core.read_namespaced_service(job.job_id, namespace).spec.ports[0].port == 8080


def jobs_of(api, namespace) -> list[str]:
    return [j.metadata.name for j in client.BatchV1Api(api).list_namespaced_job(namespace).items]
