"""The slurm backend on the real single-node cluster (scripts/slurm-node.sh).

Every job here is a real SLURM batch job running Kinetic's runner; stores are a directory
(the cluster's "shared filesystem": one machine) and a bucket in the GCS emulator.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import jobfns
import pytest
from helpers import wait_for, wait_log, wait_status

import kinetic
from kinetic import JobStatus
from kinetic.backends.slurm import output_path, secrets_path, slurm_home

from .conftest import cgroup_mode

pytestmark = pytest.mark.slurm


def slurm_id(job) -> str:
    from kinetic.backends import get_backend

    return get_backend("slurm").slurm_job_id(job)


def test_lifecycle_through_the_api(slurm, store_uri, capsys):
    train = kinetic.run(backend="slurm")(jobfns.train)
    assert train(2) == {"final_loss": 0.123}  # the blocking call streams the job's output
    assert "epoch 0\nepoch 1\n" in capsys.readouterr().out
    job = kinetic.run(cpu=1, memory="256Mi", timeout=600)(jobfns.add).run_async(2, 3)
    assert job.backend == "slurm"
    assert job.result(timeout=120, cleanup=False) == 5
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED and state.node  # the runner's host
    assert state.started and state.finished
    job.cleanup()
    assert job.status() == JobStatus.NOT_FOUND
    assert not output_path(job.job_id).exists()


def test_user_exception_is_a_user_error(slurm, store_uri):
    job = kinetic.run()(jobfns.fail_with).run_async("bad input")
    with pytest.raises(jobfns.CustomError, match="bad input"):
        job.result(timeout=120)
    state = job.state()
    assert (state.status, state.reason) == (JobStatus.FAILED, "UserError")


def test_logs_follow_and_attach_and_list_from_another_process(slurm, tmp_path, python_env):
    marker = tmp_path / "go"
    job = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(marker), 120)
    wait_log(job, "started", timeout=120)
    script = textwrap.dedent(f"""
        import json, kinetic
        job = kinetic.attach({job.job_id!r})
        rows = [(h.job_id, h.backend, h.listed_state.status.value) for h in kinetic.list_jobs()]
        print(json.dumps({{"status": job.status().value, "rows": rows}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], env=python_env, capture_output=True,
                         text=True, timeout=120, check=True)  # fmt: skip
    seen = json.loads(out.stdout)
    assert seen["status"] == "RUNNING"
    assert [job.job_id, "slurm", "RUNNING"] in seen["rows"]
    marker.touch()
    followed = io.StringIO()
    job.logs(follow=True, file=followed)  # until the job ends
    assert "started" in followed.getvalue() and "saw file" in followed.getvalue()
    assert job.result(timeout=120, cleanup=False) == "ok"


def test_cli_lifecycle(slurm, tmp_path, python_env):
    env = {**python_env, "KINETIC_BACKEND": "slurm"}

    def cli(*args, check=True):
        return subprocess.run([sys.executable, "-m", "kinetic.cli", *args], env=env,
                              capture_output=True, text=True, timeout=180, check=check)  # fmt: skip

    job_id = cli(
        "jobs", "submit", "--backend", "slurm", "--", "sh", "-c", "echo hi-from-slurm"
    ).stdout.strip()
    done = cli("jobs", "result", job_id, "--timeout", "120", "--no-cleanup")
    assert done.returncode == 0
    assert "hi-from-slurm" in cli("jobs", "logs", job_id).stdout
    assert "SUCCEEDED" in cli("jobs", "status", job_id).stdout
    listed = json.loads(cli("jobs", "list", "-o", "json").stdout)
    assert any(row["job_id"] == job_id for row in listed)
    loop = cli("jobs", "submit", "--", "sh", "-c", "while :; do sleep 0.2; done").stdout.strip()
    wait_status(kinetic.attach(loop), JobStatus.RUNNING, timeout=120)
    assert "CANCELLED" in cli("jobs", "cancel", loop).stdout
    cli("jobs", "cleanup", job_id)
    assert cli("jobs", "status", job_id, check=False).returncode != 0


def test_cancel_a_plain_loop_and_a_cooperative_job(slurm):
    loop = kinetic.run(grace_period=2)(jobfns.sleeper).run_async(600)
    wait_status(loop, JobStatus.RUNNING, timeout=120)
    state = loop.cancel()
    assert (state.status, state.reason) == (JobStatus.CANCELLED, "Cancelled")
    coop = kinetic.run()(jobfns.cooperative).run_async(600)
    wait_log(coop, "working", timeout=120)
    assert coop.cancel().status == JobStatus.CANCELLED
    assert "cancel seen, stopping cleanly" in coop.logs()  # kinetic.cancelled() reached it


def test_gpu_job_waits_for_the_gpu_another_job_holds(slurm, tmp_path):
    marker = tmp_path / "release"
    holder = kinetic.run(accelerator="l4")(jobfns.print_then_wait_for_file).run_async(
        str(marker), 300
    )
    wait_log(holder, "started", timeout=120)
    waiting = kinetic.run(accelerator="l4")(jobfns.add).run_async(1, 1)

    def queued_for_resources():
        state = waiting.state()
        return state.status == JobStatus.PENDING and "Resources" in (state.message or "")

    wait_for(queued_for_resources, timeout=60, what="PENDING (Resources)")
    assert waiting.state().reason == "Queued"
    marker.touch()
    assert holder.result(timeout=120) == "ok"
    assert waiting.result(timeout=120) == 2
    with pytest.raises(kinetic.SpecError, match="cannot honour"):
        kinetic.run(accelerator="tpu-v5e-8")(jobfns.add).run_async(1, 1)


def test_out_of_memory(slurm):
    job = kinetic.run(memory="100Mi")(jobfns.hog_memory).run_async(400)
    state = job.wait(180)
    assert state.status == JobStatus.FAILED
    if cgroup_mode():
        assert state.reason == "OOMKilled"


@pytest.mark.slow
def test_slurm_time_limit_is_deadline_exceeded(slurm):
    """SLURM's own limit (the short partition's MaxTime of 1 min): ~60-90 s."""
    job = kinetic.run(partition="short")(jobfns.sleeper).run_async(600)
    state = job.wait(240)
    assert (state.status, state.reason) == (JobStatus.FAILED, "DeadlineExceeded")
    assert "time limit" in state.message


def test_retry_on_error_runs_the_next_attempt(slurm):
    job = kinetic.run(retries=1, retry_on_error=True, retry_backoff=0)(
        jobfns.fail_until_attempt
    ).run_async(2)
    assert job.result(timeout=180, cleanup=False) == 2
    state = job.state()
    assert state.attempts == 2 and state.previous_attempts[0]["reason"] == "UserError"


def test_secret_values_are_nowhere_but_the_job(slurm, store_uri, tmp_path):
    secret = "s3cr3t-" + os.urandom(6).hex()
    job = kinetic.run(secret_env={"TOKEN": secret}, grace_period=1)(jobfns.print_secret)
    handle = job.run_async("TOKEN")
    assert handle.result(timeout=120, cleanup=False) == len(secret)
    assert secret not in handle.logs()  # masked, as on every backend
    sid = slurm_id(handle)
    shown = subprocess.run(["scontrol", "show", "job", "-dd", sid], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    shown += subprocess.run(["squeue", "-h", "--states=all", "-j", sid, "-o", "%all"],
                            capture_output=True, text=True).stdout  # fmt: skip
    assert secret not in shown and "secrets" in shown  # the path of its stdin, not the values
    assert not secrets_path(handle.job_id).exists()  # unlinked before the runner started
    places = [slurm_home(), "/var/lib/slurm-node", "/etc/slurm"]
    if store_uri.startswith("file:"):
        places.append(store_uri.removeprefix("file://"))
    grep = subprocess.run(["grep", "-rlF", secret, *map(str, places)], capture_output=True)
    assert grep.returncode == 1, grep.stdout  # found nowhere


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"ports": ["web:8080"]}, "ports"),
        ({"runtime": "py312"}, "runtime"),
        ({"volumes": ["data:/data"]}, "volumes"),
        ({"network": "team"}, "network"),
        ({"cpu_cores": "0-1"}, "cpu_cores"),
        ({"ssh": True, "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk x@y"}, "ssh"),
        ({"slurm": {"flags": ["--dependency=afterok:1"]}}, "slurm['flags']"),
        ({"slurm": {"flags": ["--wrap=rm -rf /"]}}, "slurm['flags']"),
        ({"slurm": {"flags": ["--time=5"]}}, "slurm['flags']"),
        ({"slurm": {"colour": "blue"}}, "slurm"),
        ({"partition": "gpu; rm -rf /"}, "partition"),
    ],
)
def test_options_slurm_cannot_honour_are_refused_before_anything_exists(
    slurm, store_uri, options, option
):
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.run(backend="slurm", **options)(jobfns.add).run_async(1, 1)
    assert info.value.option == option
    assert kinetic.list_jobs() == []


def test_slurm_options_need_the_slurm_backend():
    with pytest.raises(kinetic.SpecError, match="backend='slurm'"):
        kinetic.run(backend="local", partition="gpu")


def test_doctor_checks_slurm_and_the_store_from_a_compute_node(slurm, python_env):
    env = {**python_env, "KINETIC_BACKEND": "slurm"}
    done = subprocess.run([sys.executable, "-m", "kinetic.cli", "doctor"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ok  ] slurm controller" in done.stdout
    assert "[ok  ] store from a compute node: SLURM job" in done.stdout
