"""kinetic.submit(command=…), files with their modes, and upload=False."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jobfns
import pytest

import kinetic

PY = sys.executable


def test_command_job_exit_code_and_logs(store_uri):
    job = kinetic.submit([PY, "-c", "print('hello from a command')"])
    assert job.command[1:] == ["-c", "print('hello from a command')"]
    assert job.result(timeout=60, cleanup=False) == 0
    assert job.logs() == "hello from a command\n"
    assert job.state().status == kinetic.JobStatus.SUCCEEDED


def test_failing_command_reports_code_and_output_tail(store_uri):
    script = "import sys; print('step 1'); print('bad thing', file=sys.stderr); sys.exit(3)"
    job = kinetic.submit([PY, "-c", script], name="flaky")
    assert job.job_id.startswith("flaky-")
    with pytest.raises(kinetic.JobFailedError) as info:
        job.result(timeout=60)
    assert info.value.exit_code == 3
    assert "exited with code 3" in str(info.value) and "bad thing" in str(info.value)
    assert job.state().reason == "Error"
    missing = kinetic.submit(["/no/such/program"])
    with pytest.raises(kinetic.JobFailedError, match="cannot run") as info:
        missing.result(timeout=60)
    assert info.value.exit_code == 127


def test_files_travel_with_their_modes(store_uri, tmp_path):
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o750)
    job = kinetic.submit(
        ["sh", "-c", "./tool.sh && stat -c %a tool.sh"],
        files=[str(tool)],
    )
    with pytest.raises(kinetic.SpecError):  # a list names paths; a dict names contents
        kinetic.submit(["true"], files={"../escape": b"x"})
    assert job.result(timeout=60, cleanup=False) == 0
    assert job.logs() == "tool ran\n750\n"  # ran from its working directory, mode kept
    inline = kinetic.submit(["cat", "data/config.txt"], files={"data/config.txt": b"k=v\n"})
    inline.result(timeout=60, cleanup=False)
    assert inline.logs() == "k=v\n"


def test_file_mode_preserved_for_functions(tmp_path):
    tool = tmp_path / "run.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)

    fn = kinetic.run(files=[str(tool)])(jobfns.file_mode)
    assert fn.run_async("run.sh").result(timeout=60) == 0o755
    with pytest.raises(kinetic.SpecError, match="existing regular files"):
        kinetic.run(files=[str(tmp_path / "absent")])(jobfns.add)


def test_upload_false_keeps_no_outputs():
    job = kinetic.run(upload=False)(jobfns.write_outputs).run_async(False)
    assert job.result(timeout=60, cleanup=False) == ["model.txt", "sub"]
    assert job.outputs() == []


def test_cli_submit_and_bad_command():
    out = subprocess.run(
        [PY, "-m", "kinetic.cli", "jobs", "submit", "--env", "WHO=cli", "--follow", "--",
         PY, "-c", "import os; print('hi', os.environ['WHO'])"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    job_id, printed = out.stdout.splitlines()[0], out.stdout.splitlines()[1:]
    assert printed == ["hi cli"]
    assert kinetic.attach(job_id).command[0] == PY
    failing = subprocess.run(
        [PY, "-m", "kinetic.cli", "jobs", "submit", "-o", "json", "--follow", "--",
         PY, "-c", "raise SystemExit(5)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert failing.returncode == 1 and "exited with code 5" in failing.stderr
    assert json.loads(failing.stdout)["command"][-1] == "raise SystemExit(5)"
    with pytest.raises(kinetic.SpecError, match="non-empty list"):
        kinetic.submit("python x.py")
    assert os.environ.get("WHO") is None
