"""keras-team/kinetic's "Detached Jobs" page, run unchanged (with a CPU accelerator).

Its snippets are the contract: code written against that API runs here as it is. Each test
runs them in a separate Python process, as a user's script would, on both stores.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import kinetic
from kinetic import JobStatus

# The page's snippets, in order, as one script; only the accelerator differs.
DETACHED_JOBS_PAGE = """
import kinetic

@kinetic.run(accelerator="cpu")
def train_model():
    # Long-running training code
    return {"final_loss": 0.123}

job = train_model.run_async()
print(f"Submitted: {job.job_id}")

# ... do something else, possibly close the script entirely ...

final = job.result(timeout=3600)  # blocks until done
print(final)

kept = train_model.run_async()
job = kinetic.attach(kept.job_id)
print(f"Status: {job.status().value}")
print(job.tail(n=20))

for j in kinetic.list_jobs():
    print(f"{j.job_id}  {j.func_name}  {j.status().value}")

try:
    final = job.result(timeout=3600)
except TimeoutError:
    # Job is still running — handle is still valid; you can call .result()
    # again, .tail(), .cancel(), or just walk away.
    print(job.tail(n=50))

job = train_model.run_async()
final = job.result(cleanup=False)  # keep everything
job.cleanup(k8s=True, gcs=False)   # later: delete pod, keep artifacts

from kinetic.job_status import JobStatus
assert kinetic.job_status.JobStatus is JobStatus
print("statuses", " ".join(s.value for s in JobStatus))
"""


def run_script(tmp_path, text: str) -> str:
    script = tmp_path / "page.py"
    script.write_text(textwrap.dedent(text))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=240
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_detached_jobs_page_runs_unchanged(store_uri, tmp_path):
    out = run_script(tmp_path, DETACHED_JOBS_PAGE)
    lines = out.splitlines()
    assert lines[0].startswith("Submitted: train-model-")
    assert lines[1] == "{'final_loss': 0.123}"
    assert lines[2].startswith("Status: ")
    listed = [line.split() for line in lines if line.startswith("train-model-")]
    assert len(listed) == 1 and listed[0][1] == "train_model"
    assert listed[0][2] in {"PENDING", "RUNNING", "SUCCEEDED"}
    assert lines[-1].split()[1:] == [s.value for s in JobStatus]
    # cleanup(k8s=True, gcs=False) kept the artifacts: the last job is still listed
    jobs = kinetic.list_jobs()
    assert [h.func_name for h in jobs] == ["train_model"]
    assert jobs[0].listed_state.status == JobStatus.SUCCEEDED


def test_listed_handles_carry_their_state_and_status_stays_live(store_uri):
    import jobfns

    job = kinetic.run()(jobfns.add).run_async(2, 2)
    job.wait(60)
    (listed,) = kinetic.list_jobs()
    assert isinstance(listed, kinetic.JobHandle)
    assert listed.listed_state.status == JobStatus.SUCCEEDED
    assert listed.func_name == "add"
    assert listed.result(cleanup=True) == 4
    assert listed.listed_state.status == JobStatus.SUCCEEDED  # what was read when listing
    assert listed.status() == JobStatus.NOT_FOUND  # and status() asks again
    assert kinetic.list_jobs() == []


def test_list_jobs_filters_are_keyword_only():
    with pytest.raises(TypeError):
        kinetic.list_jobs("FAILED")
    with pytest.raises(kinetic.SpecError, match="limit"):
        kinetic.list_jobs(limit=0)


TYPED = """
from typing import assert_type

import kinetic


@kinetic.run(accelerator="cpu")
def train(epochs: int) -> dict[str, float]:
    return {"loss": 0.1 * epochs}


@kinetic.run
def plain(name: str) -> str:
    return name


assert_type(train(3), dict[str, float])
assert_type(plain("x"), str)
assert_type(train.run_async(3), kinetic.JobHandle)
assert_type([j.func_name for j in kinetic.list_jobs()], list[str])
train("three")  # E: the argument's type is checked
"""


def test_decorated_functions_keep_their_types_for_a_type_checker(tmp_path):
    """mypy sees train(3) return what train returns, and checks its arguments."""
    source = tmp_path / "typed.py"
    source.write_text(TYPED)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), str(source)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, out.stdout
    bad_line = TYPED.splitlines().index('train("three")  # E: the argument\'s type is checked') + 1
    assert f"typed.py:{bad_line}:" in errors[0] and "arg-type" in errors[0], out.stdout
