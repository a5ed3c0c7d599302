"""debug=True on the local backend: debugpy in the job, a real Debug Adapter Protocol client
attaching with the launch.json that `kinetic jobs debug` prints (a breakpoint hit, a
variable read in the job's frame, the function run to its result), the bounded wait, a
cancel during it, and a job whose environment has no debugpy."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import jobfns
import pytest
from dap_client import DapClient, debug_session
from helpers import wait_for, wait_log

import kinetic
from kinetic import JobStatus, SpecError
from kinetic.spec.ports import Port

JOBFNS = Path(jobfns.__file__)
REPO = JOBFNS.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def break_line() -> int:
    lines = JOBFNS.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if "# DEBUG-BREAK" in text)


def cli(*args: str, cwd: Path | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args], cwd=cwd, env=dict(os.environ),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_debug_options_are_validated_and_add_the_port():
    spec = kinetic.run(debug=True)(jobfns.add).spec
    assert spec.ports == (Port("debug", 15678, "tcp"),) and spec.debug_wait == 300
    assert kinetic.JobSpec.from_dict(spec.to_dict()) == spec  # read back: no second port
    own = kinetic.run(debug=True, ports=["web:8080", "debug:9229"], debug_wait=0)(jobfns.add)
    assert own.spec.ports == (Port("web", 8080), Port("debug", 9229))
    assert kinetic.run(ports=["debug:9229/udp"])(jobfns.add).spec.debug is False
    for options, shown in (
        ({"debug": "yes"}, "debug='yes'"),
        ({"debug": True, "debug_wait": -1}, "debug_wait=-1"),
        ({"debug": True, "ports": ["other:15678"]}, "other:15678/tcp"),
        ({"debug": True, "ports": ["debug:9229/udp"]}, "debug:9229/udp"),
    ):
        with pytest.raises(SpecError) as caught:
            kinetic.run(**options)(jobfns.add)
        assert shown in str(caught.value), caught.value


def test_a_debugger_attaches_with_the_printed_configuration(store_uri, tmp_path, monkeypatch):
    """The client's copy of the code is elsewhere (another checkout): the path mappings
    take its breakpoint to the job's code and the job's frames back to it."""
    monkeypatch.chdir(REPO)  # the submitter's directory: the job's code is named under it
    port, line = free_port(), break_line()
    job = kinetic.run(debug=True, ports=[f"debug:{port}"])(jobfns.debuggee).run_async(7)
    laptop = tmp_path / "laptop"
    (laptop / "tests").mkdir(parents=True)
    shutil.copy(JOBFNS, laptop / "tests")
    out = cli("jobs", "debug", job.job_id, cwd=laptop)
    assert out.returncode == 0, out.stderr
    (config,) = json.loads(out.stdout)["configurations"]
    assert config["type"] == "debugpy" and config["request"] == "attach"
    assert config["connect"] == {"host": "127.0.0.1", "port": port}
    assert config["pathMappings"][0] == {"localRoot": str(laptop), "remoteRoot": str(REPO)}
    assert "listens on this machine" in out.stderr
    client = DapClient("127.0.0.1", port)
    try:
        source = str(laptop / "tests" / JOBFNS.name)
        debug_session(client, config, source, line)
        stopped = client.event("stopped", timeout=60)
        assert stopped["reason"] == "breakpoint"
        assert job.status() == JobStatus.RUNNING  # held at the breakpoint
        (top, *_) = client.request("stackTrace", threadId=stopped["threadId"])["stackFrames"]
        assert (top["source"]["path"], top["line"]) == (source, line)  # mapped back here
        value = client.request("evaluate", expression="x * 10", frameId=top["id"],
                               context="watch")  # fmt: skip
        assert value["result"] == "70"
        client.request("continue", threadId=stopped["threadId"])
        assert job.result(timeout=60, cleanup=False) == 14
    finally:
        client.close()
    logs = job.logs()
    assert f"debugpy is listening on 127.0.0.1:{port}" in logs
    assert "debugger attached: running the function" in logs
    assert "debuggee called with 7" in logs


def test_without_a_client_the_function_runs_after_the_wait(tmp_path):
    job = kinetic.run(debug=True, debug_wait=1, ports=[f"debug:{free_port()}"])(jobfns.debuggee)
    started = time.monotonic()
    assert job.run_async(4).result(timeout=60) == 8
    assert time.monotonic() - started >= 1


def test_cli_submit_debug_waits_then_runs_the_command():
    port = free_port()
    out = cli("jobs", "submit", "--debug", "--debug-wait", "1", "--port", f"debug:{port}",
              "-o", "json", "--", "sh", "-c", "echo ran")  # fmt: skip
    assert out.returncode == 0, out.stderr
    job = kinetic.attach(json.loads(out.stdout)["job_id"])
    assert job.spec["debug"] is True and job.spec["debug_wait"] == 1
    assert job.result(timeout=60, cleanup=False) == 0
    logs = job.logs()
    assert f"debugpy is listening on 127.0.0.1:{port}" in logs
    assert "no debugger attached within 1s: running the function" in logs
    assert logs.endswith("ran\n")


def test_a_cancel_ends_the_wait_for_a_debugger():
    job = kinetic.run(debug=True, ports=[f"debug:{free_port()}"])(jobfns.debuggee).run_async(1)
    wait_log(job, "debugpy is listening", timeout=60)
    started = time.monotonic()
    assert job.cancel(timeout=60).status == JobStatus.CANCELLED
    assert time.monotonic() - started < 30  # not the 300 s wait
    assert "debuggee called" not in job.logs()


def test_without_debugpy_in_the_jobs_environment_it_fails_fast(tmp_path, monkeypatch):
    """The job's Python cannot import debugpy: a module of that name that is not
    importable, first on the runner's path, stands in for an environment without it."""
    missing = tmp_path / "no-debugpy"
    missing.mkdir()
    (missing / "debugpy.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'debugpy'\", name='debugpy')\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(missing), str(JOBFNS.parent)]))
    job = kinetic.run(debug=True, ports=[f"debug:{free_port()}"])(jobfns.debuggee).run_async(1)
    state = job.wait(60)
    assert state.status == JobStatus.FAILED and state.reason == "DebuggerUnavailable", state
    assert "needs debugpy in the job's environment" in state.message
    assert "No module named 'debugpy'" in state.message
    logs = job.logs()
    assert "debuggee called" not in logs  # the function never ran
    assert "[kinetic] debug=True needs debugpy" in logs and "Traceback" not in logs
    with pytest.raises(kinetic.JobFailedError, match="debugpy"):
        job.result(timeout=10, cleanup=False)
    out = cli("jobs", "debug", job.job_id)
    assert out.returncode == 1 and "is FAILED (DebuggerUnavailable" in out.stderr, out


def test_jobs_debug_refuses_a_job_without_debug():
    job = kinetic.run()(jobfns.add).run_async(1, 2)
    job.wait(60)
    out = cli("jobs", "debug", job.job_id)
    assert out.returncode == 1 and "was not submitted with debug=True" in out.stderr, out
    wait_for(lambda: job.status() == JobStatus.SUCCEEDED, timeout=30, what="done")
