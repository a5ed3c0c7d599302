"""report_progress(): the latest report shows in the state, the CLI and the final record."""

from __future__ import annotations

import json
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_for

import kinetic


def test_progress_is_visible_while_running_and_kept(store_uri, tmp_path):
    flag = tmp_path / "go"
    job = kinetic.run()(jobfns.progress_then_wait).run_async(str(flag))
    progress = wait_for(
        lambda: (p := job.state().progress) and p["fraction"] == 0.5 and p, what="50%"
    )
    assert progress["message"] == "step 5" and progress["metrics"] == {"loss": 0.2}
    rows = json.loads(
        subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "list", "-o", "json"],
                       capture_output=True, text=True, check=True).stdout
    )  # fmt: skip
    assert rows[0]["progress"]["fraction"] == 0.5
    table = subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "list"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "\t50%\t" in table
    flag.touch()
    assert job.result(timeout=60, cleanup=False) == "ok"
    final = job.state()
    assert final.progress["fraction"] == 1.0 and final.progress["message"] == "done"


def test_bad_reports_are_refused_and_outside_a_job_nothing_happens():
    with pytest.raises(ValueError, match="fraction"):
        kinetic.report_progress(1.5)
    with pytest.raises(ValueError, match="JSON"):
        kinetic.report_progress(0.5, model=object())
    with pytest.raises(kinetic.KineticError):
        kinetic.report_progress(-1)
    kinetic.report_progress(0.5)  # not in a job: a no-op
