"""A submission is all or nothing: the submitting process killed at any point of
run_async() leaves either a job that runs, or nothing anyone can see.

The client is a real process killed with SIGKILL at chosen points: a tracer counts the
lines it executes in the submission's modules (validation, pickling, the store writes,
the runner's start, the secrets' hand-over, the commit) and kills the process at the Nth.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import kinetic
from kinetic import JobStatus

TESTS = Path(__file__).parent

CLIENT = r"""
import os, signal, sys, threading
import jobfns, kinetic

STEPS = ("kinetic/client/submit.py", "kinetic/client/pickling.py",
         "kinetic/backends/local.py", "kinetic/wire/framing.py", "kinetic/store/")
kill_at, seen = int(sys.argv[1]), 0

def local(frame, event, arg):
    global seen
    if event == "line":
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return local

def tracer(frame, event, arg):
    path = frame.f_code.co_filename.replace(os.sep, "/")
    if threading.current_thread() is threading.main_thread() and any(s in path for s in STEPS):
        return local
    return None

fn = kinetic.run(secret_env={"TOKEN": "t0k"})(jobfns.env_value)
sys.settrace(tracer)
job = fn.run_async("TOKEN")
sys.settrace(None)
print(seen, job.job_id)
"""


def run_client(kill_at: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-c", CLIENT, str(kill_at)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_a_client_killed_anywhere_in_run_async_leaves_whole_jobs(store_uri):
    dry = run_client(0)  # never killed: how many lines the submission runs
    assert dry.returncode == 0, dry.stderr
    total = int(dry.stdout.split()[0])
    points = sorted({1 + (total - 1) * i // 23 for i in range(24)} | {total - 2, total - 1})
    assert len(points) >= 20
    killed = 0
    for point in points:
        out = run_client(point)
        assert out.returncode in (0, -signal.SIGKILL), out.stderr
        killed += out.returncode == -signal.SIGKILL
    assert killed >= 20
    listed = kinetic.list_jobs()
    # Every job shown is a whole one: it runs, with its secret, to its value.
    for job in listed:
        assert job.listed_state.status != JobStatus.FAILED, job.listed_state
        assert job.result(timeout=120, cleanup=False) == "t0k"
    # The kills after the runner started left running jobs; the earlier ones, nothing.
    assert 0 < len(listed) < len(points)
    assert all(kinetic.attach(j.job_id).status() == JobStatus.SUCCEEDED for j in listed)
