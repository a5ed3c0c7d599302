"""The `kinetic` command, run as a real process, with every exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_log

import kinetic


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def done_job():
    job = kinetic.run()(jobfns.train).run_async(3)
    job.wait(60)
    return job


def test_list_status_logs_result(done_job):
    out = cli("jobs", "list")
    assert out.returncode == 0
    header, row = out.stdout.splitlines()[:2]
    assert header.split("\t") == [
        "ID", "FUNCTION", "STATUS", "REASON", "PROGRESS", "AGE", "DURATION", "BACKEND"
    ]  # fmt: skip
    assert row.split("\t")[:3] == [done_job.job_id, "train", "SUCCEEDED"]

    rows = json.loads(cli("jobs", "list", "-o", "json", "--status", "succeeded").stdout)
    assert [r["job_id"] for r in rows] == [done_job.job_id]
    assert json.loads(cli("jobs", "list", "-o", "json", "--status", "FAILED").stdout) == []

    status = json.loads(cli("jobs", "status", done_job.job_id, "-o", "json").stdout)
    assert status["status"] == "SUCCEEDED" and status["job_id"] == done_job.job_id
    assert "status:    SUCCEEDED" in cli("jobs", "status", done_job.job_id).stdout

    assert cli("jobs", "logs", done_job.job_id).stdout == "epoch 0\nepoch 1\nepoch 2\n"
    assert cli("jobs", "logs", done_job.job_id, "--tail", "1").stdout == "epoch 2\n"
    assert cli("jobs", "logs", done_job.job_id, "--follow").stdout == "epoch 0\nepoch 1\nepoch 2\n"

    out = cli("jobs", "result", done_job.job_id, "--no-cleanup", "-o", "json")
    assert json.loads(out.stdout) == {"job_id": done_job.job_id, "value": {"final_loss": 0.123}}
    out = cli("jobs", "result", done_job.job_id)
    assert out.returncode == 0 and out.stdout == "{'final_loss': 0.123}\n"
    assert done_job.status() == kinetic.JobStatus.NOT_FOUND  # --cleanup is the default


def test_failed_job_exit_1_with_remote_traceback():
    job = kinetic.run()(jobfns.fail_with).run_async("broken")
    job.wait(60)
    out = cli("jobs", "result", job.job_id)
    assert out.returncode == 1
    assert "Remote traceback" in out.stderr and "in inner" in out.stderr
    assert out.stderr.rstrip().endswith("CustomError: broken")
    assert "Traceback (most recent call last)" in out.stderr  # the remote one, from the note
    assert job.status() == kinetic.JobStatus.FAILED  # kept as evidence


def test_not_found_exit_3_and_usage_exit_2():
    out = cli("jobs", "status", "no-such-job")
    assert out.returncode == 3 and out.stderr.startswith("error: no job 'no-such-job'")
    assert "Traceback" not in out.stderr
    out = cli("jobs", "status", "../etc")
    assert out.returncode == 2 and "invalid job id" in out.stderr
    assert cli("jobs", "list", "--limit", "0").returncode == 2
    assert cli("jobs", "frobnicate").returncode == 2


def test_debug_shows_traceback():
    out = cli("--debug", "jobs", "status", "no-such-job")
    assert out.returncode == 3 and "Traceback (most recent call last)" in out.stderr


def test_result_timeout_exit_4_then_cancel():
    job = kinetic.run(grace_period=1)(jobfns.cooperative).run_async(60)
    out = cli("jobs", "result", job.job_id, "--timeout", "0.5")
    assert out.returncode == 4 and "still" in out.stderr
    wait_log(job, "working")
    out = cli("jobs", "cancel", job.job_id, "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "CANCELLED"
    out = cli("jobs", "result", job.job_id)
    assert out.returncode == 1 and "cancelled" in out.stderr


def test_outputs_and_cleanup(tmp_path):
    job = kinetic.run()(jobfns.write_outputs).run_async(False)
    job.wait(60)
    out = cli("jobs", "outputs", job.job_id, "-o", "json")
    assert json.loads(out.stdout) == ["model.txt", "sub/metrics.json"]
    out = cli("jobs", "outputs", job.job_id, "--download", str(tmp_path / "d"))
    assert out.returncode == 0 and (tmp_path / "d" / "sub" / "metrics.json").exists()
    out = cli("jobs", "cleanup", job.job_id, "--no-gcs")
    assert out.returncode == 0 and job.status() == kinetic.JobStatus.SUCCEEDED
    out = cli("jobs", "cleanup", job.job_id)
    assert out.returncode == 0 and job.status() == kinetic.JobStatus.NOT_FOUND
    assert cli("jobs", "status", job.job_id).returncode == 3


def test_config_shows_sources(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('namespace = "ml"\n')
    monkeypatch.setenv("KINETIC_CONFIG", str(cfg))
    data = json.loads(cli("config", "-o", "json").stdout)
    assert data["settings"]["namespace"] == {"value": "ml", "source": f"config {cfg}"}
    assert data["settings"]["store"]["source"] == "env KINETIC_STORE"
    assert data["settings"]["backend"] == {"value": "local", "source": "default"}
