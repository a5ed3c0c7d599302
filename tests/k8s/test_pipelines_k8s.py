"""Pipelines on the cluster: the operator holds a dependent's Job until its dependencies'
KineticJobs say SUCCEEDED, passes their results' digests to the pod, ends it
CANCELLED/DependencyFailed when one fails, and derives all of it again after a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pipelinefns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.model.reasons import Reason

pytestmark = pytest.mark.k8s

run = kinetic.run()


def jobs_of(api, namespace, job_id) -> list[str]:
    found = client.BatchV1Api(api).list_namespaced_job(
        namespace, label_selector=f"kinetic.dev/job-id={job_id}"
    )
    return sorted(j.metadata.name for j in found.items)


SUBMITTER = """
import sys
sys.path.insert(0, {tests!r})
import kinetic, pipelinefns
run = kinetic.run()
raw = run(pipelinefns.download).run_async(6)
clean = run(pipelinefns.preprocess).run_async(raw)
model = run(pipelinefns.train).run_async(clean, epochs=3)
print(raw.job_id, clean.job_id, model.job_id)
"""


def test_three_stages_pass_values_with_the_caller_gone(kube, namespace, tmp_path):
    script = tmp_path / "submit.py"
    tests = str(pipelinefns.__file__).rsplit("/", 1)[0]
    script.write_text(textwrap.dedent(SUBMITTER.format(tests=tests)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=240, check=True)  # fmt: skip
    raw_id, clean_id, model_id = out.stdout.split()  # the submitter has exited
    model = kinetic.attach(model_id)
    value = model.result(timeout=240, cleanup=False)
    assert value["weights"] == pytest.approx(np.arange(6).sum() * 2 * 3)
    clean = kinetic.attach(clean_id)
    np.testing.assert_array_equal(clean.result(timeout=60, cleanup=False), np.arange(6) * 2.0)
    # Each Job was created only once its dependency had succeeded.
    assert model.state().started >= clean.state().finished
    assert clean.state().started >= kinetic.attach(raw_id).state().finished


def test_a_failing_middle_stage_cancels_what_follows(kube, namespace):
    first = run(pipelinefns.echo).run_async("raw")
    middle = run(pipelinefns.fail_on).run_async(first)
    last = run(pipelinefns.echo).run_async(middle)
    after = run(pipelinefns.echo).run_async({"x": last})
    final = after.wait(240)
    assert (final.status, final.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert last.job_id in final.message
    state = last.state()
    assert (state.status, state.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert middle.job_id in state.message
    assert jobs_of(kube, namespace, last.job_id) == []  # never run: no Job
    with pytest.raises(ValueError):
        middle.result()
    assert first.result(timeout=60) == "raw"


def test_held_then_cancel_with_dependents(kube, namespace):
    first = run(pipelinefns.slow).run_async(1, 600)
    second = run(pipelinefns.echo).run_async(first)
    state = wait_for(
        lambda: (s := second.state()).reason == Reason.WAITING_FOR_DEPENDENCIES and s,
        timeout=120, what="WaitingForDependencies",
    )  # fmt: skip
    assert state.status == JobStatus.PENDING and first.job_id in state.message
    assert jobs_of(kube, namespace, second.job_id) == []
    first.cancel(dependents=True, timeout=120)
    ended = second.wait(120)
    assert ended.status == JobStatus.CANCELLED
    assert jobs_of(kube, namespace, second.job_id) == []


def test_a_diamond_across_an_operator_restart(kube, namespace, operator):
    top = run(pipelinefns.slow).run_async({"n": 1}, 8)
    left = run(pipelinefns.echo).run_async([top, "left"])
    right = run(pipelinefns.echo).run_async((top, "right"))
    bottom = run(pipelinefns.combine).run_async(left, right)
    wait_for(lambda: bottom.state().reason == Reason.WAITING_FOR_DEPENDENCIES, timeout=120,
             what="bottom waiting")  # fmt: skip
    operator.kill()  # restarted while the dependents wait: everything is derived again
    operator.log.close()
    operator.start()
    value = bottom.result(timeout=300, cleanup=False)
    assert value["left"] == [{"n": 1}, "left"] and value["right"] == ({"n": 1}, "right")


WORKFLOW = """
name: nightly
jobs:
  - {{name: fetch, function: "pipelinefns:download", args: [4]}}
  - {{name: clean, function: "pipelinefns:needs_file", args: [{marker!r}, {{result_of: fetch}}]}}
  - {{name: train, function: "pipelinefns:train", args: [{{result_of: clean}}]}}
"""


def test_a_workflow_retried_from_its_failure(kube, namespace, tmp_path):
    import kinetic.workflow

    marker = tmp_path / "fixed"
    handle = kinetic.workflow.run(WORKFLOW.format(marker=str(marker)))
    status = handle.wait(300)
    assert status.phase == JobStatus.FAILED
    assert status.jobs["train"].reason == Reason.DEPENDENCY_FAILED
    fetch_id = handle.record.jobs["fetch"]
    marker.write_text("fixed")
    handle.retry()
    assert handle.record.jobs["fetch"] == fetch_id  # its stored result is reused
    assert handle.wait(300).phase == JobStatus.SUCCEEDED
    assert handle.results()["train"]["weights"] == pytest.approx(np.arange(4).sum())
    assert jobs_of(kube, namespace, fetch_id) == [fetch_id]  # run once
