"""The quickstart as a notebook, in a real Jupyter kernel (nbclient + ipykernel).

The cells run; a handle displays its id, function and live status; result() shows a live
display that is gone when it returns; a job started in a kernel that is then shut down
keeps running and is attached from a new process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import kinetic

TESTS = Path(__file__).parent

CELLS = [
    "import kinetic, jobfns\ntrain = kinetic.run(accelerator='cpu')(jobfns.train)\ntrain(3)",
    "job = train.run_async(2)\njob",
    "job.result(timeout=120)",
    "slow = kinetic.run()(jobfns.sleeper).run_async(3)\nprint(slow.job_id)",
]


def outputs_text(cell) -> str:
    parts = []
    for out in cell.outputs:
        parts.append(out.get("text", ""))
        parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


def test_quickstart_in_a_kernel_and_a_job_that_outlives_it(store_uri, tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    client = NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()  # shuts the kernel down at the end
    first, shown, value, started = (outputs_text(c) for c in nb.cells)
    assert "{'final_loss': 0.123}" in first and "epoch 2" in first
    assert "<JobHandle train-" in shown and "train</td>" in shown  # repr and live HTML
    assert "'final_loss': 0.123" in value
    assert "RUNNING" not in value and "PENDING" not in value  # the live display is gone
    job_id = started.strip()
    out = subprocess.run(
        [sys.executable, "-c",
         f"import kinetic; print(kinetic.attach({job_id!r}).result(timeout=120))"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert (out.returncode, out.stdout) == (0, "3\n"), out.stderr


def test_a_handle_repr_does_no_io():
    handle = kinetic.JobHandle("train-abc", "local", "gs://nowhere-at-all/x", "m.train", "now")
    assert repr(handle) == "<JobHandle train-abc train (local)>"
