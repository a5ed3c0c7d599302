"""debug=True on the cluster: `kinetic jobs debug ID` port-forwards the job's debug port
through the API server (pods/portforward, the simulated node's kubelet endpoint) and a real
DAP client attaches through it with the printed launch.json."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jobfns
import pytest
from dap_client import DapClient, debug_session
from kubernetes import client

import kinetic
from kinetic import JobStatus

pytestmark = pytest.mark.k8s

JOBFNS = Path(jobfns.__file__)
REPO = JOBFNS.parent.parent


def free_port() -> int:
    with socket.socket() as s:  # the simulated pod's ports are this machine's
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jobs_debug_forwards_the_debugger_and_a_client_attaches(
    kube, namespace, tmp_path, monkeypatch
):
    monkeypatch.chdir(REPO)  # the submitter's directory: the job's code is named under it
    port = free_port()
    job = kinetic.run(debug=True, ports=[f"debug:{port}"])(jobfns.debuggee).run_async(5)
    laptop = tmp_path / "laptop"
    (laptop / "tests").mkdir(parents=True)
    shutil.copy(JOBFNS, laptop / "tests")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic.cli", "jobs", "debug", job.job_id, "0"],
        cwd=laptop, env={**os.environ, "PYTHONWARNINGS": "ignore"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    dap = None
    try:
        lines: list[str] = []
        while line := proc.stderr.readline():  # it waits for the pod, then forwards
            lines.append(line)
            if match := re.search(r"forwarding 127\.0\.0\.1:(\d+) -> debugpy", line):
                break
        assert match, lines[-20:]
        local = int(match.group(1))
        text = ""
        while not text.endswith("\n}\n"):  # the launch.json, printed before the line above
            text += proc.stdout.readline()
        (config,) = json.loads(text)["configurations"]
        assert config["request"] == "attach"
        assert config["connect"] == {"host": "127.0.0.1", "port": local}
        assert config["pathMappings"][0] == {"localRoot": str(laptop), "remoteRoot": str(REPO)}
        service = client.CoreV1Api(kube).read_namespaced_service(job.job_id, namespace)
        assert [(p.name, p.port) for p in service.spec.ports] == [("debug", port)]

        dap = DapClient("127.0.0.1", local)  # through the API server to the pod's port
        source = str(laptop / "tests" / JOBFNS.name)
        at = next(i for i, t in enumerate(JOBFNS.read_text().splitlines(), 1)
                    if "# DEBUG-BREAK" in t)  # fmt: skip
        debug_session(dap, config, source, at)
        stopped = dap.event("stopped", timeout=60)
        assert stopped["reason"] == "breakpoint"
        (top, *_) = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"]
        assert (top["source"]["path"], top["line"]) == (source, at)
        value = dap.request("evaluate", expression="x * 10", frameId=top["id"], context="watch")
        assert value["result"] == "50"
        dap.request("continue", threadId=stopped["threadId"])
        assert job.result(timeout=60, cleanup=False) == 10
    finally:
        if dap is not None:
            dap.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()
    logs = job.logs()
    assert f"debugpy is listening on 127.0.0.1:{port}" in logs
    assert "debugger attached: running the function" in logs


def test_jobs_debug_waits_for_the_debugger_then_refuses_an_ended_job(kube, namespace):
    job = kinetic.run(debug=True, debug_wait=1, ports=[f"debug:{free_port()}"])(jobfns.debuggee)
    job = job.run_async(3)
    assert job.result(timeout=90, cleanup=False) == 6
    assert "no debugger attached within 1s" in job.logs()
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "debug", job.job_id],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 1 and f"job {job.job_id} is SUCCEEDED" in out.stderr, out.stderr
    assert job.status() == JobStatus.SUCCEEDED


def test_without_debugpy_in_the_image_the_job_fails_fast(kube, namespace, tmp_path):
    """The pod's Python cannot import debugpy: a module of that name that is not
    importable, first on the container's PYTHONPATH, stands in for an image without it."""
    from .simnode import _import_path

    missing = tmp_path / "no-debugpy"
    missing.mkdir()
    (missing / "debugpy.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'debugpy'\", name='debugpy')\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(missing), _import_path()])}
    fn = kinetic.run(debug=True, env=env, ports=[f"debug:{free_port()}"])(jobfns.debuggee)
    job = fn.run_async(1)
    state = job.wait(90)
    assert state.status == JobStatus.FAILED and state.reason == "DebuggerUnavailable", state
    assert "needs debugpy in the job's environment" in state.message
    assert "debuggee called" not in job.logs()  # the function never ran
