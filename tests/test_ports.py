"""Ports, ssh and shells on the local backend: the job's ports are this machine's."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import jobfns
import pytest
from helpers import ssh_login, wait_for, wait_log

import kinetic
from kinetic import JobStatus, Port, SpecError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfz9GZ1mE3oD2u6rRkq3n6cX7h0Xg4o8rQ2mYp1bWcD me@laptop"


def free_port() -> int:
    """A port nothing holds now, from the kernel's ephemeral range (within 8002-65535)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw,
    )  # fmt: skip


def nothing_stored(tmp_path: Path) -> bool:
    jobs = tmp_path / "store" / "jobs"
    return not jobs.exists() or not any(jobs.iterdir())


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"ports": ["Web:8080"]}, "Web"),
        ({"ports": ["web-ui:8080"]}, "web-ui"),
        ({"ports": ["1web:8080"]}, "1web"),
        ({"ports": ["web1a:8080"]}, "web1a"),
        ({"ports": ["abcdefghijklmnop:8080"]}, "abcdefghijklmnop"),
        ({"ports": ["web:8001"]}, 8001),
        ({"ports": ["web:2201"]}, 2201),
        ({"ports": ["web:65536"]}, 65536),
        ({"ports": ["web:http"]}, "web:http"),
        ({"ports": ["web:8080/sctp"]}, "sctp"),
        ({"ports": [{"name": "web", "port": "8080"}]}, "8080"),
        ({"ports": [{"name": "web", "port": 8080, "host": "x"}]}, None),
        ({"ports": [("web", 8080)]}, None),
        ({"ports": ["web:8080", "web:8081"]}, "web:8081/tcp"),
        ({"ports": ["web:8080", "api:8080"]}, "api:8080/tcp"),
        ({"ports": 8080}, 8080),
        ({"ssh": "yes"}, "yes"),
        ({"ssh": True, "ssh_public_key": KEY, "ports": ["ssh:9000"]}, "ssh:9000/tcp"),
        ({"ssh": True, "ssh_public_key": KEY, "ports": ["shell:2202"]}, "shell:2202/tcp"),
        ({"ssh_public_key": KEY}, KEY),
        ({"ssh": True, "ssh_public_key": "ssh-ed25519 not-base64!"}, "ssh-ed25519 not-base64!"),
        ({"ssh": True, "ssh_public_key": "/nonexistent/key.pub"}, "/nonexistent/key.pub"),
        ({"ssh": True, "ssh_public_key": 42}, 42),
    ],
)
def test_bad_ports_and_ssh_options_name_option_value_and_accepted(options, shown, tmp_path):
    with pytest.raises(SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    option = info.value.option
    assert option in ("ports", "ssh", "ssh_public_key"), option
    assert option in str(info.value) and info.value.accepted in str(info.value)
    if shown is not None:
        assert info.value.value == shown
    with pytest.raises(SpecError):  # the same through kinetic.submit: nothing is created
        kinetic.submit(["true"], **options)
    assert nothing_stored(tmp_path)


def test_port_forms_normalise_and_ssh_adds_2202():
    fn = kinetic.run(
        ports=[Port("web", 8080, "http"), {"name": "dns", "port": 9053, "proto": "udp"},
               "raw:9000"],
        ssh=True, ssh_public_key=KEY,
    )(jobfns.add)  # fmt: skip
    assert fn.spec.ports == (
        Port("web", 8080, "http"), Port("dns", 9053, "udp"), Port("raw", 9000, "tcp"),
        Port("ssh", 2202, "tcp"),
    )  # fmt: skip
    data = fn.spec.to_dict()
    assert data["ports"][-1] == {"name": "ssh", "port": 2202, "proto": "tcp"}
    assert json.loads(json.dumps(data))["ssh_public_key"] == KEY + "\n"
    assert kinetic.JobSpec.from_dict(data) == fn.spec  # read back, the ssh port is no clash
    # Without ssh, 2202 is an ordinary port (the job runs its own server there).
    assert kinetic.run(ports=["ssh:2202"])(jobfns.add).spec.ports == (Port("ssh", 2202),)


def test_ssh_public_key_from_a_file_or_the_default_key(tmp_path, monkeypatch):
    pub = tmp_path / "mine.pub"
    pub.write_text(KEY + "\n")
    assert kinetic.run(ssh=True, ssh_public_key=str(pub))(jobfns.add).spec.ssh_public_key == (
        KEY + "\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SpecError, match=r"id_ed25519\.pub or ~/\.ssh/id_rsa\.pub") as info:
        kinetic.run(ssh=True)(jobfns.add)
    assert info.value.option == "ssh_public_key"
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa.pub").write_text(KEY)
    assert kinetic.run(ssh=True)(jobfns.add).spec.ssh_public_key == KEY + "\n"


def test_a_private_key_given_by_mistake_is_never_shown(tmp_path):
    private = tmp_path / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n")
    with pytest.raises(SpecError) as info:
        kinetic.run(ssh=True, ssh_public_key=str(private))(jobfns.add)
    assert "PRIVATE" not in str(info.value) and "c2VjcmV0" not in str(info.value)
    assert str(private) in str(info.value)


# -- a port reachable at its endpoint ----------------------------------------------------------
def test_a_job_serves_http_at_the_endpoint_its_handle_reports(tmp_path):
    port = free_port()
    job = kinetic.run(ports=[Port("web", port, "http")])(jobfns.serve_http).run_async(60)
    endpoint = job.endpoints()["web"]
    assert (endpoint.host, endpoint.port, endpoint.proto) == ("127.0.0.1", port, "http")
    assert endpoint.url == f"http://127.0.0.1:{port}"
    wait_log(job, "serving", timeout=30)
    with urllib.request.urlopen(endpoint.url, timeout=10) as response:
        assert response.read().decode() == f"hello from {job.job_id}"
    # The port is taken now: a second job asking for it is refused before anything exists.
    before = sorted(p.name for p in (tmp_path / "store" / "jobs").iterdir())
    with pytest.raises(SpecError, match=f"{port} is in use here") as info:
        kinetic.run(ports=[f"web:{port}/http"])(jobfns.add).run_async(1, 2)
    assert info.value.option == "ports"
    assert sorted(p.name for p in (tmp_path / "store" / "jobs").iterdir()) == before
    assert job.cancel().status == JobStatus.CANCELLED
    assert kinetic.attach(job.job_id).endpoints()["web"] == endpoint


def test_the_job_sees_its_ports_as_env():
    job = kinetic.submit(
        ["sh", "-c", "echo web=$KINETIC_PORT_WEB dns=$KINETIC_PORT_DNS"],
        ports=[f"web:{free_port()}/http", f"dns:{free_port()}/udp"],
    )
    assert job.result(timeout=60, cleanup=False) == 0
    ports = {p["name"]: p["port"] for p in job.spec["ports"]}
    assert job.logs() == f"web={ports['web']} dns={ports['dns']}\n"


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_submit_with_ports_endpoints_and_port_forward():
    port = free_port()
    out = cli("jobs", "submit", "--port", f"web:{port}/http", "--port", f"raw:{free_port()}",
              "-o", "json", "--", "sh", "-c", "echo $KINETIC_PORT_WEB")  # fmt: skip
    assert out.returncode == 0, out.stderr
    job_id = json.loads(out.stdout)["job_id"]
    shown = json.loads(cli("jobs", "endpoints", job_id, "-o", "json").stdout)
    assert shown["web"] == {
        "host": "127.0.0.1", "port": port, "proto": "http", "url": f"http://127.0.0.1:{port}"
    }  # fmt: skip
    assert shown["raw"]["proto"] == "tcp" and shown["raw"]["url"] is None
    text = cli("jobs", "endpoints", job_id).stdout
    assert f"web\thttp://127.0.0.1:{port}\thttp" in text
    forward = cli("jobs", "port-forward", job_id, "web")
    assert forward.returncode == 0
    assert f"http://127.0.0.1:{port}" in forward.stdout and "nothing to forward" in forward.stdout
    missing = cli("jobs", "port-forward", job_id, "nope")
    assert (
        missing.returncode == 2 and "no port named 'nope' (its ports: raw, web)" in missing.stderr
    )
    assert kinetic.attach(job_id).result(timeout=60) == 0


def test_cli_refuses_bad_ports_and_ssh_without_a_key(tmp_path):
    out = cli("jobs", "submit", "--port", "web:80", "--", "true")
    assert out.returncode == 2 and "invalid ports=80" in out.stderr and "8002-65535" in out.stderr
    out = cli("jobs", "submit", "--ssh", "--", "true", env={**os.environ, "HOME": str(tmp_path)})
    assert out.returncode == 2 and "invalid ssh_public_key=None" in out.stderr
    assert nothing_stored(tmp_path)


# -- ssh ---------------------------------------------------------------------------------------
def test_without_sshd_the_job_fails_fast_with_ssh_unavailable(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    fn = kinetic.run(ssh=True, ssh_public_key=KEY, env={"KINETIC_SSHD": "/nonexistent/sshd"})
    job = fn(jobfns.touch).run_async(str(marker))
    state = job.wait(30)
    assert state.status == JobStatus.FAILED and state.reason == "SshUnavailable", state
    assert "/nonexistent/sshd" in state.message
    assert not marker.exists()  # the function never ran
    with pytest.raises(kinetic.JobFailedError, match="SshUnavailable"):
        job.result()
    # An image without sshd: nothing on PATH nor in the sbin directories.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("kinetic.job.sshd.SBIN_DIRS", (str(tmp_path),))
    from kinetic.job.sshd import SshUnavailable, find_program

    with pytest.raises(SshUnavailable, match="Install openssh-server in the image"):
        find_program("sshd")


def _sshd_and_ssh() -> str | None:
    from kinetic.job.sshd import SshUnavailable, find_program

    try:
        find_program("sshd")
    except SshUnavailable as exc:
        return str(exc)
    if not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        return "no ssh client (openssh-client) on this machine"
    return None


def test_ssh_into_a_running_job(tmp_path):
    if why := _sshd_and_ssh():
        pytest.skip(f"cannot test a real ssh login here: {why}")
    if 2202 in _ports_in_use([2202]):
        pytest.skip("port 2202 is in use on this machine")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    job = kinetic.run(ssh=True, ssh_public_key=str(key) + ".pub")(jobfns.cooperative).run_async(60)
    assert job.endpoints()["ssh"].port == 2202
    wait_log(job, "sshd is listening on port 2202", timeout=30)
    login = ssh_login(key, "echo $((6 * 7))")
    assert login.returncode == 0, login.stderr
    assert login.stdout == "42\n"
    # Another key is not let in.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    refused = ssh_login(other, "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    assert job.cancel().status == JobStatus.CANCELLED
    wait_for(lambda: not _ports_in_use([2202]), timeout=15, what="sshd stopped with the job")


def _ports_in_use(ports: list[int]) -> list[int]:
    from kinetic.backends.local_checks import ports_in_use

    return [p.port for p in ports_in_use(tuple(Port("p", n) for n in ports))]


# -- kinetic jobs shell ------------------------------------------------------------------------
def test_shell_runs_in_the_jobs_directory_with_its_env(tmp_path):
    go = tmp_path / "go"
    job = kinetic.run(
        env={"GREETING": "hi there"}, secret_env={"TOKEN": "s3cr3t-x"},
        files={"data.txt": b"x"}, ports=[f"web:{free_port()}"],
    )(jobfns.print_then_wait_for_file).run_async(str(go), 60)  # fmt: skip
    wait_log(job, "started", timeout=30)
    script = 'ls; echo "$GREETING|$KINETIC_JOB_ID|$KINETIC_PORT_WEB|${TOKEN:-unset}"'
    out = cli("jobs", "shell", job.job_id, "--", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    port = job.spec["ports"][0]["port"]
    assert out.stdout == f"data.txt\nhi there|{job.job_id}|{port}|unset\n"
    assert "secret_env (TOKEN) is not set in this shell" in out.stderr
    assert cli("jobs", "shell", job.job_id, "--", "sh", "-c", "exit 7").returncode == 7
    go.touch()
    assert job.result(timeout=60, cleanup=False) == "ok"
    done = cli("jobs", "shell", job.job_id)
    assert done.returncode == 1
    assert f"job {job.job_id} is SUCCEEDED, not RUNNING" in done.stderr


# -- the Kubernetes objects, offline (the API server checks them in tests/k8s) -----------------
def test_service_and_container_ports_from_a_kineticjob():
    from chart_support import kinetic_job

    from kinetic.k8s.job_manifest import OperatorConfig, build_job
    from kinetic.k8s.service_manifest import build_service, service_name

    kj = kinetic_job("3d-model-k3j9x2ab")
    kj["metadata"].update(namespace="ml", uid="u-1")
    job = build_job(kj, OperatorConfig())
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [
        {"name": "web", "containerPort": 8080, "protocol": "TCP"},
        {"name": "ssh", "containerPort": 2202, "protocol": "TCP"},
    ]
    owner = job["metadata"]["ownerReferences"][0]
    service = build_service(kj, owner)
    # Service names must start with a letter (DNS-1035); job ids may start with a digit.
    assert service_name("3d-model-k3j9x2ab") == "j-3d-model-k3j9x2ab" == service["metadata"]["name"]
    assert service_name("train-k3j9x2ab") == "train-k3j9x2ab"
    assert service["metadata"]["ownerReferences"] == [owner]
    assert service["spec"]["selector"] == {"kinetic.dev/job-id": "3d-model-k3j9x2ab"}
    assert service["spec"]["ports"][0] == {
        "name": "web", "port": 8080, "targetPort": "web", "protocol": "TCP", "appProtocol": "http"
    }  # fmt: skip
