"""Each job's resource use (issue 18 item 4): the local runner records the worker's peak
memory and CPU time in the job's state, and `kinetic jobs status` shows them."""

from __future__ import annotations

import subprocess
import sys

import jobfns

import kinetic
from kinetic.job.watch import resource_use


def test_local_jobs_record_peak_memory_and_cpu_time(python_env):
    job = kinetic.run()(jobfns.hog_memory).run_async(120)
    assert job.result(cleanup=False) == 120 * 2**20
    usage = job.state().extra["resources"]
    assert usage["peak_memory_bytes"] >= 120 * 2**20, usage
    assert usage["peak_memory_bytes"] < 2 * 2**30, usage  # its own, not the machine's
    assert 0 < usage["cpu_seconds"] < 60, usage
    out = subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id],
                         capture_output=True, text=True, env=python_env, timeout=60)  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("resources:"))
    assert "peak memory" in line and "MiB" in line and "CPU time" in line, out.stdout


def test_a_failed_job_records_its_use_too():
    job = kinetic.run()(jobfns.fail_with).run_async("broken")
    state = job.wait(120)
    assert state.status == kinetic.JobStatus.FAILED
    assert state.extra["resources"]["peak_memory_bytes"] > 0


def test_resource_use_is_in_bytes_and_seconds():
    assert resource_use(2048, 1.25, 0.5) == {"peak_memory_bytes": 2 * 2**20, "cpu_seconds": 1.75}
