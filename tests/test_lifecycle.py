"""Every lifecycle path of a job through the public API, with real runner processes.

Parametrized over the store (`store_uri`): the whole suite runs with a file:// store and
with a gs:// store in the GCS emulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jobfns
import pytest
from helpers import wait_for, wait_log, wait_status

import kinetic
import kinetic.client.handle
from kinetic import JobStatus


def test_blocking_call_streams_output_and_returns_value(store_uri, capsys):
    train = kinetic.run(accelerator="cpu")(jobfns.train)
    assert train(3) == {"final_loss": 0.123}
    assert "epoch 0\nepoch 1\nepoch 2\n" in capsys.readouterr().out


def test_run_async_value_and_cleanup(store_uri):
    job = kinetic.run()(jobfns.add).run_async(2, 3)
    assert isinstance(job, kinetic.JobHandle)
    assert job.result(timeout=60) == 5
    # cleaned up on success, but the same handle object still has the value
    assert job.status() == JobStatus.NOT_FOUND
    assert job.result() == 5
    with pytest.raises(kinetic.JobNotFoundError):
        kinetic.attach(job.job_id)


def test_result_without_cleanup_keeps_job(store_uri):
    job = kinetic.run()(jobfns.add).run_async(1, 1)
    assert job.result(timeout=60, cleanup=False) == 2
    state = job.state()
    assert state.status == JobStatus.SUCCEEDED
    assert state.started and state.finished and state.finished >= state.started
    assert kinetic.attach(job.job_id).result(cleanup=False) == 2


def test_remote_exception_reraised_with_type_and_traceback_note(store_uri):
    job = kinetic.run()(jobfns.fail_with).run_async("bad input")
    with pytest.raises(jobfns.CustomError, match="bad input") as info:
        job.result(timeout=60)
    notes = "\n".join(info.value.__notes__)
    assert "Remote traceback" in notes and "in inner" in notes and "bad input" in notes
    state = job.state()
    assert state.status == JobStatus.FAILED and state.reason == "UserError"
    # evidence kept: the job still exists and raises again
    with pytest.raises(jobfns.CustomError):
        kinetic.attach(job.job_id).result()


def test_handle_json_round_trip_and_unknown_keys(store_uri):
    job = kinetic.run(name="Round Trip")(jobfns.add).run_async(1, 2)
    data = json.loads(job.to_json())
    data["added_by_a_future_version"] = {"x": 1}
    again = kinetic.JobHandle.from_dict(data)
    assert again.job_id == job.job_id and again.job_id.startswith("round-trip-")
    assert again.result(timeout=60) == 3


def test_logs_tail_and_fd_level_capture(store_uri):
    job = kinetic.run()(jobfns.c_level_output).run_async()
    job.wait(60)
    text = job.logs()
    assert "from fd 1" in text and "from a child process" in text and "child stderr" in text
    job2 = kinetic.run()(jobfns.chatty_then_sleep).run_async(50, 0)
    job2.wait(60)
    assert job2.tail(2) == "line 48\nline 49\n"
    assert job2.logs().count("\n") == 50


def test_follow_sees_lines_live_and_status_transitions(store_uri, tmp_path):
    flag = tmp_path / "go"
    job = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(flag))
    assert job.status() in (JobStatus.PENDING, JobStatus.RUNNING)
    lines = job.stream_logs(follow=True)
    assert next(lines) == "started\n"  # arrives while the job is still running
    assert job.status() == JobStatus.RUNNING
    flag.touch()
    assert list(lines) == ["saw file\n"]
    assert job.status() == JobStatus.SUCCEEDED


def test_follower_resumes_after_last_line(store_uri):
    job = kinetic.run()(jobfns.chatty_then_sleep).run_async(5, 0)
    job.wait(60)
    first = job.stream_logs(follow=True)
    seen = [next(first), next(first)]
    resumed = list(job.stream_logs(follow=True, offset=seen[-1].end))
    assert seen + resumed == [f"line {i}\n" for i in range(5)]


def test_timeout_is_deadline_exceeded(store_uri):
    job = kinetic.run(timeout=1, grace_period=1)(jobfns.sleeper).run_async(60)
    state = job.wait(60)
    assert state.status == JobStatus.FAILED and state.reason == "DeadlineExceeded"
    with pytest.raises(kinetic.JobFailedError, match="DeadlineExceeded"):
        job.result()


def test_result_timeout_leaves_job_running(store_uri):
    job = kinetic.run()(jobfns.sleeper).run_async(30)
    with pytest.raises(TimeoutError):
        job.result(timeout=0.5)
    assert job.status() in (JobStatus.PENDING, JobStatus.RUNNING)
    job.cancel()


def test_cancel_cooperative_job(store_uri):
    job = kinetic.run(grace_period=30)(jobfns.cooperative).run_async(60)
    wait_log(job, "working")
    started = time.monotonic()
    state = job.cancel()
    assert state.status == JobStatus.CANCELLED
    assert time.monotonic() - started < 20  # it returned on the event, not at the kill
    assert "cancel seen, stopping cleanly" in job.logs()
    with pytest.raises(kinetic.JobCancelledError):
        job.result()


def test_cancel_stubborn_job_is_killed_after_grace(store_uri):
    job = kinetic.run(grace_period=1)(jobfns.stubborn).run_async(120)
    wait_log(job, "ignoring cancel")
    state = job.cancel()
    assert state.status == JobStatus.CANCELLED
    text = job.logs()
    assert "ignoring cancel" in text and "killing it" in text


def test_cleanup_gives_not_found(store_uri):
    job = kinetic.run()(jobfns.add).run_async(1, 2)
    job.wait(60)
    job.cleanup()
    assert job.status() == JobStatus.NOT_FOUND
    assert job.job_id not in [h.job_id for h in kinetic.list_jobs()]


def test_outputs_kept_on_success_and_failure(store_uri, tmp_path):
    ok = kinetic.run()(jobfns.write_outputs).run_async(False)
    bad = kinetic.run()(jobfns.write_outputs).run_async(True)
    assert ok.result(cleanup=False, timeout=60) == ["model.txt", "sub"]
    with pytest.raises(RuntimeError):
        bad.result(timeout=60)
    for job in (ok, bad):
        assert job.outputs() == ["model.txt", "sub/metrics.json"]
    files = bad.download(tmp_path / "dl")
    assert sorted(p.relative_to(tmp_path / "dl").as_posix() for p in files) == [
        "model.txt",
        "sub/metrics.json",
    ]
    assert (tmp_path / "dl" / "model.txt").read_text() == "weights"


def test_sys_exit_codes(store_uri):
    assert kinetic.run()(jobfns.exit_with).run_async(0).result(timeout=60) is None
    job = kinetic.run()(jobfns.exit_with).run_async(3)
    with pytest.raises(SystemExit):
        job.result(timeout=60)
    assert job.state().exit_code == 3


def test_unpicklable_result_fails_job(store_uri):
    job = kinetic.run()(jobfns.unpicklable_result).run_async()
    with pytest.raises(kinetic.JobFailedError, match="ResultNotSerializable") as info:
        job.result(timeout=60)
    assert "socket" in str(info.value)


def test_env_and_capture_env(store_uri, monkeypatch):
    monkeypatch.setenv("WANDB_KEY", "captured")
    fn = kinetic.run(env={"PLAIN": "x"}, capture_env=["WANDB_*"])(jobfns.env_value)
    assert fn.run_async("PLAIN").result(timeout=60) == "x"
    assert fn.run_async("WANDB_KEY").result(timeout=60) == "captured"
    ident = kinetic.run()(jobfns.job_identity).run_async()
    got = ident.result(timeout=60, cleanup=False)
    assert got["job_id"] == ident.job_id and got["output_dir"]


def test_runner_killed_is_lost(store_uri):
    job = kinetic.run()(jobfns.sleeper).run_async(120)
    wait_status(job, JobStatus.RUNNING)
    launch = json.loads(
        kinetic.client.handle.load_handle(job.job_id)._store.read_bytes(
            f"jobs/{job.job_id}/launch.json"
        )
    )
    os.kill(launch["pid"], signal.SIGKILL)
    state = wait_for(lambda: (s := job.state()).status.is_terminal and s, what="Lost")
    assert state.status == JobStatus.FAILED and state.reason == "Lost"
    with pytest.raises(kinetic.JobFailedError, match="Lost"):
        job.result()


def test_unpicklable_argument_creates_nothing(store_uri):
    import socket

    with (
        socket.socket() as sock,
        pytest.raises(kinetic.SerializationError, match=r"argument 2 \(socket\)"),
    ):
        kinetic.run()(jobfns.add).run_async(1, sock)
    assert kinetic.list_jobs() == []


def test_attach_list_and_caller_exit_from_other_processes(store_uri, tmp_path):
    """A job started by a process that exits keeps running; another process collects it."""
    starter = tmp_path / "starter.py"
    starter.write_text(
        textwrap.dedent(
            """
            import kinetic, time

            @kinetic.run()
            def slow():
                time.sleep(1.5)
                print("still here after the caller left")
                return 42

            print(slow.run_async().job_id)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(starter)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    job_id = out.stdout.strip()
    collector = textwrap.dedent(
        f"""
        import kinetic
        ids = [h.job_id for h in kinetic.list_jobs()]
        assert {job_id!r} in ids, ids
        job = kinetic.attach({job_id!r})
        print(job.result(timeout=60, cleanup=False))
        print(job.logs(), end="")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", collector], capture_output=True, text=True, check=True
    )
    assert out.stdout == "42\nstill here after the caller left\n"


def test_list_jobs_newest_first_with_filters(store_uri):
    first = kinetic.run()(jobfns.add).run_async(1, 1)
    second = kinetic.run()(jobfns.fail_with).run_async("x")
    first.wait(60)
    second.wait(60)
    rows = kinetic.list_jobs()
    assert [h.job_id for h in rows] == [second.job_id, first.job_id]
    assert [h.listed_state.status for h in rows] == [JobStatus.FAILED, JobStatus.SUCCEEDED]
    failed = kinetic.list_jobs(status="failed")
    assert [h.job_id for h in failed] == [second.job_id]
    assert len(kinetic.list_jobs(limit=1)) == 1
    with pytest.raises(TypeError):  # filters are keyword-only: "FAILED" is not a store
        kinetic.list_jobs("FAILED")
    with pytest.raises(kinetic.SpecError, match="DONE"):
        kinetic.list_jobs(status="DONE")
