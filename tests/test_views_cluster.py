"""`kinetic cluster` on the local backend (issue 18 item 3): this machine's CPUs, memory,
disks under the store, GPUs (none without nvidia-smi), and each running job's use."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jobfns
from helpers import wait_log

import kinetic
from kinetic.system.machine import parse_nvidia_smi


def test_local_machine_and_running_jobs(python_env, tmp_path):
    job = kinetic.run()(jobfns.hog_memory).run_async(100)  # 100 MiB held for 5 s
    other = kinetic.run()(jobfns.cooperative).run_async(300)
    wait_log(other, "working", 60)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "cluster", "--backend", "local", "-o", "json"],
            capture_output=True, text=True, env=python_env, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["cpus"]["count"] == os.cpu_count() and len(data["cpus"]["load"]) == 3
        assert 0 < data["memory"]["available_bytes"] <= data["memory"]["total_bytes"]
        store_disk = next(d for d in data["disks"] if d["what"] == "store")
        assert store_disk["path"] == str(tmp_path / "store") and store_disk["free_bytes"] > 0
        assert isinstance(data["gpus"], list)
        jobs = {j["job_id"]: j for j in data["jobs"]}
        assert other.job_id in jobs, data["jobs"]
        row = jobs[other.job_id]
        assert row["rss_bytes"] > 5 * 2**20 and row["processes"] >= 2  # runner + worker
        assert row["cpu_seconds"] >= 0 and row["cpu_percent"] >= 0
        text = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "cluster", "--backend", "local"],
            capture_output=True, text=True, env=python_env, timeout=120,
        ).stdout  # fmt: skip
        assert "cpus:" in text and "memory:" in text and other.job_id in text, text
    finally:
        job.cancel(wait=False)
        other.cancel(wait=False)


def test_nvidia_smi_output_is_read():
    text = "0, NVIDIA L4, 23034, 1200, 37\n1, NVIDIA L4, 23034, [N/A], [N/A]\n"
    gpus = parse_nvidia_smi(text)
    assert gpus[0] == {"index": 0, "name": "NVIDIA L4", "memory_total_bytes": 23034 * 2**20,
                       "memory_used_bytes": 1200 * 2**20, "utilization_percent": 37.0}  # fmt: skip
    assert gpus[1]["memory_used_bytes"] is None and gpus[1]["utilization_percent"] is None
