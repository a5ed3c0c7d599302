"""A job's progress bars as a terminal shows them: `kinetic jobs logs --follow` in a real
terminal (tmux) redraws a tqdm bar in place while it runs; piped, it prints each bar's
final state once. The stored log keeps the raw bytes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import jobfns
from helpers import unavailable, wait_for, wait_log

import kinetic


def test_piped_follow_gives_each_bar_once(store_uri, python_env):
    job = kinetic.run()(jobfns.tqdm_bar).run_async(20, 0.02)
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "logs", "--follow", job.job_id],
        capture_output=True, text=True, env=python_env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stdout
    bars = [line for line in out.stdout.splitlines() if line.startswith("training")]
    assert len(bars) == 1 and "100%" in bars[0] and "20/20" in bars[0], out.stdout
    assert out.stdout.endswith("after the bar\n")
    assert job.logs().count("\r") >= 20  # the store keeps every update


def test_follow_on_a_terminal_redraws_the_bar(store_uri, python_env, tmp_path):
    if not shutil.which("tmux"):
        unavailable("tmux is not installed (Debian: apt-get install tmux)")
    job = kinetic.run()(jobfns.tqdm_bar).run_async(200, 0.1)  # ~20 s of bar
    wait_log(job, "training")
    session = f"kinetic-{job.job_id}"
    command = f"{sys.executable} -m kinetic.cli jobs logs --follow {job.job_id}"
    env = [arg for name, value in python_env.items() if name.startswith("KINETIC_")
           for arg in ("-e", f"{name}={value}")]  # fmt: skip
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "20", *env, command],
        check=True,
    )
    try:

        def pane() -> str:
            return subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout

        # Mid-bar: the line is there before it ends (live), and drawn in place (one line).
        seen = wait_for(lambda: (p := pane()) and "training" in p and "%|" in p and p,
                        timeout=60, what="the bar in the pane")  # fmt: skip
        first = [line for line in seen.splitlines() if line.startswith("training")]
        assert len(first) == 1 and "100%" not in first[0], seen
        time.sleep(1.5)
        later = [line for line in pane().splitlines() if line.startswith("training")]
        assert len(later) == 1 and later[0] != first[0], later  # it moved, in place
    finally:
        job.cancel()
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
