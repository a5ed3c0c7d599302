"""A job's progress bars as a terminal shows them: `kinetic jobs logs --follow` in a real
terminal (tmux) redraws a tqdm bar in place while it runs; piped, it prints each bar's
final state once. The stored log keeps the raw bytes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

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


def test_result_shows_a_live_status_line_on_a_terminal(store_uri, python_env, tmp_path):
    """issue 10 item 8: while result() waits on a terminal, one line says the job's status,
    elapsed time and its report_progress; it is erased when the value arrives."""
    if not shutil.which("tmux"):
        unavailable("tmux is not installed (Debian: apt-get install tmux)")
    release = tmp_path / "release"
    script = tmp_path / "wait.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(jobfns.__file__).parent)!r})\n"
        "import jobfns, kinetic\n"
        f"job = kinetic.run()(jobfns.progress_then_wait).run_async({str(release)!r}, 120)\n"
        "print('VALUE', job.result())\n"
    )
    # Its own tmux server (-L): not one that another test is just shutting down.
    session = f"kinetic-wait-{uuid.uuid4().hex[:8]}"
    env = [arg for name, value in python_env.items() if name.startswith(("KINETIC_", "STORAGE_"))
           for arg in ("-e", f"{name}={value}")]  # fmt: skip
    subprocess.run(
        ["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", "150", "-y", "20", *env,
         f"{sys.executable} {script}; sleep 60"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    try:

        def pane() -> str:
            return subprocess.run(
                ["tmux", "-L", session, "capture-pane", "-p", "-t", session],
                capture_output=True, text=True,
            ).stdout  # fmt: skip

        seen = wait_for(lambda: (p := pane()) and "step 5" in p and p, timeout=90,
                        what="the live status line")  # fmt: skip
        line = next(x for x in seen.splitlines() if "[kinetic]" in x)
        assert "RUNNING" in line and "50%" in line, line
        release.write_text("go")
        done = wait_for(lambda: (p := pane()) and "VALUE ok" in p and p, timeout=90,
                        what="the value")  # fmt: skip
        assert "[kinetic]" not in done, done  # erased once the value came
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], check=False)
