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


def _fake_proc(root, parents: dict[int, int]):
    """A /proc of ``pid → ppid`` stat files (comm with a space and a parenthesis, as real
    ones may have)."""
    for pid, ppid in parents.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} (a (b) c) S {ppid} 1 1 0 -1\n")
    return root


def test_the_container_peak_only_from_a_cgroup_of_the_jobs_own(tmp_path):
    import os

    from kinetic.job.container_use import container_peak, with_container_peak

    me = os.getpid()
    proc = _fake_proc(tmp_path / "proc", {1: 0, me: 1, 90001: me, 90002: 1})
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.peak").write_text(f"{300 * 2**20}\n")
    (v2 / "cgroup.procs").write_text(f"1\n{me}\n90001\n")  # init, the runner, its worker
    assert container_peak(v2, proc) == 300 * 2**20
    (v2 / "cgroup.procs").write_text(f"1\n{me}\n90002\n")  # someone else's process
    assert container_peak(v2, proc) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.max_usage_in_bytes").write_text(f"{200 * 2**20}\n")
    (v1 / "cgroup.procs").write_text(f"{me}\n")
    assert container_peak(tmp_path / "v1", proc) == 200 * 2**20
    assert container_peak(tmp_path / "none", proc) is None
    worker = {"peak_memory_bytes": 5, "cpu_seconds": 1.0}
    assert with_container_peak(worker, None) == {**worker, "peak_memory_of": "worker"}
    assert with_container_peak(worker, 7)["peak_memory_bytes"] == 7


def test_the_termination_message_carries_the_use():
    from kinetic.wire.termination import format_termination_message, parse_termination_message

    use = {"peak_memory_bytes": 2**27, "cpu_seconds": 1.5, "peak_memory_of": "container"}
    report, _ = parse_termination_message(format_termination_message(reason="UserError",
                                                                      resources=use))  # fmt: skip
    assert report is not None and report.resources == use
    bad = '{"reason": "UserError", "resources": {"peak_memory_bytes": "lots", "cpu_seconds": true}}'
    assert parse_termination_message(bad)[0].resources is None  # type: ignore[union-attr]
