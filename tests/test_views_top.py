"""`kinetic top` (issue 18): one frame with jobs in every state, and the live view driven
in a real terminal (tmux): filter, open a job, see its log follow, cancel it with a
confirmation."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta

import jobfns
from helpers import unavailable, wait_for, wait_log, wait_status

import kinetic
from kinetic.cli.top_frame import ViewState
from kinetic.cli.top_keys import on_key, parse_keys
from kinetic.model.status import JobStatus, utcnow


def _jobs_in_every_state(tmp_path):
    run = kinetic.run()
    done = run(jobfns.add).run_async(1, 2)
    assert done.result(cleanup=False) == 3
    failed = run(jobfns.fail_with).run_async("broken")
    cancelled = run(jobfns.cooperative).run_async(120)
    wait_log(cancelled, "working")
    cancelled.cancel()
    pending = kinetic.run(start_at=utcnow() + timedelta(hours=1))(jobfns.add).run_async(1, 1)
    progress = run(jobfns.progress_then_wait).run_async(str(tmp_path / "never"), 120)
    running = run(jobfns.lines_then_wait).run_async(
        str(tmp_path / "more"), str(tmp_path / "never"), 0, 120
    )
    wait_status(failed, JobStatus.FAILED, 60)
    wait_status(pending, JobStatus.PENDING, 60)
    wait_for(lambda: (progress.state().progress or {}).get("fraction") == 0.5, 60,
             what="the reported progress")  # fmt: skip
    wait_log(running, "line 19", 60)
    return {"done": done, "failed": failed, "cancelled": cancelled, "pending": pending,
            "progress": progress, "running": running}  # fmt: skip


def test_once_prints_every_state(store_uri, python_env, tmp_path):
    jobs = _jobs_in_every_state(tmp_path)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "top", "--once"],
            capture_output=True, text=True, env={**python_env, "COLUMNS": "200"}, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        lines = {job.job_id: line for job in jobs.values()
                 for line in out.stdout.splitlines() if job.job_id in line}  # fmt: skip
        assert set(lines) == {job.job_id for job in jobs.values()}, out.stdout
        assert "SUCCEEDED" in lines[jobs["done"].job_id]
        assert "FAILED" in lines[jobs["failed"].job_id]
        assert "UserError" in lines[jobs["failed"].job_id]
        assert "CANCELLED" in lines[jobs["cancelled"].job_id]
        assert "PENDING" in lines[jobs["pending"].job_id]
        assert "Scheduled" in lines[jobs["pending"].job_id]
        assert "RUNNING" in lines[jobs["progress"].job_id]
        assert "50%" in lines[jobs["progress"].job_id]  # its report_progress(0.5)
        assert "running 2" in out.stdout and "pending 1" in out.stdout, out.stdout
        # Filtered: only the failed job.
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "top", "--once", "--status", "failed"],
            capture_output=True, text=True, env={**python_env, "COLUMNS": "200"}, timeout=120,
        )  # fmt: skip
        assert jobs["failed"].job_id in out.stdout
        assert jobs["running"].job_id not in out.stdout
        # One job's frame: its state and its log's tail.
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "top", "--once", "--job",
             jobs["running"].job_id],
            capture_output=True, text=True, env={**python_env, "COLUMNS": "200"}, timeout=120,
        )  # fmt: skip
        assert "RUNNING" in out.stdout and "line 19" in out.stdout, out.stdout
    finally:
        for job in jobs.values():
            job.cancel(wait=False)


def test_live_view_in_a_terminal(store_uri, python_env, tmp_path):
    if not shutil.which("tmux"):
        unavailable("tmux is not installed (Debian: apt-get install tmux)")
    jobs = _jobs_in_every_state(tmp_path)
    running = jobs["running"]
    session = f"kinetic-top-{uuid.uuid4().hex[:8]}"
    env = [arg for name, value in python_env.items() if name.startswith("KINETIC_")
           for arg in ("-e", f"{name}={value}")]  # fmt: skip
    command = f"{sys.executable} -m kinetic.cli top --interval 1"
    tmux = ["tmux", "-L", session]
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "40", *env,
                    command], check=True)  # fmt: skip
    # A detached session may start at tmux's default size (80x24) under pytest: set it.
    subprocess.run([*tmux, "resize-window", "-t", session, "-x", "160", "-y", "40"], check=False)

    def pane() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout  # fmt: skip

    def keys(*names: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", session, *names], check=True)

    try:
        wait_for(lambda: all(j.job_id in pane() for j in jobs.values()), timeout=60,
                 what="every job in the view")  # fmt: skip
        # "s" cycles the status filter: every → PENDING → RUNNING.
        keys("s", "s")
        wait_for(lambda: "status=RUNNING" in (p := pane()) and jobs["done"].job_id not in p,
                 timeout=30, what="the RUNNING filter")  # fmt: skip
        assert running.job_id in pane() and jobs["progress"].job_id in pane()
        # "/" filters by name: only the running job is left; enter opens it.
        keys("/", *running.job_id, "Enter")
        wait_for(lambda: jobs["progress"].job_id not in pane(), timeout=30, what="name filter")
        keys("Enter")
        wait_for(lambda: "log (following)" in (p := pane()) and "line 19" in p, timeout=30,
                 what="the job's view with its log")  # fmt: skip
        (tmp_path / "more").touch()  # more output, printed while the view is open
        wait_for(lambda: "line 39" in pane(), timeout=60, what="the new lines followed")
        keys("c")
        wait_for(lambda: f"cancel {running.job_id}? [y/N]" in pane(), timeout=30,
                 what="the confirmation")  # fmt: skip
        keys("n")  # not confirmed: nothing happens
        wait_for(lambda: "cancel: not done" in pane(), timeout=30, what="the refusal")
        assert running.status() == JobStatus.RUNNING
        keys("c")
        wait_for(lambda: "[y/N]" in pane(), timeout=30, what="the confirmation")
        keys("y")
        wait_status(running, JobStatus.CANCELLED, 60)
        wait_for(lambda: "CANCELLED" in pane(), timeout=30, what="CANCELLED in the view")
        # Retry it (confirmed): a new job, linked to this one.
        keys("r")
        wait_for(lambda: f"retry {running.job_id}? [y/N]" in pane(), timeout=30,
                 what="the retry question")  # fmt: skip
        keys("y")
        said = wait_for(lambda: re.search(r"retried as (\S+)", pane()), timeout=60,
                        what="the retried job")  # fmt: skip
        retried = kinetic.attach(said.group(1))
        assert retried.retry_of == running.job_id
        retried.cancel(wait=False)
        keys("q")
        wait_for(lambda: subprocess.run([*tmux, "has-session", "-t", session],
                                        capture_output=True).returncode != 0,
                 timeout=30, what="top to quit")  # fmt: skip
    finally:
        for job in jobs.values():
            job.cancel(wait=False)
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def test_keys_are_read_and_decided_purely():
    assert parse_keys("\x1b[B\rab\x1b\x7f\x1b[6~") == [
        "down", "enter", "a", "b", "esc", "backspace", "pgdn"]  # fmt: skip
    view, action = on_key(ViewState(), "q", None)
    assert action is not None and action.kind == "quit"
    view, action = on_key(ViewState(open_job="job-a"), "c", None)
    assert action is None and view.asking == "cancel" and "[y/N]" in view.prompt
    view, action = on_key(view, "y", None)
    assert action is not None and (action.kind, action.job_id) == ("cancel", "job-a")
    view, action = on_key(ViewState(open_job="job-a", can_retry=False), "r", None)
    assert action is None and "not available" in view.prompt
