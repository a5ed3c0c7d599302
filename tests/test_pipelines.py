"""Pipelines on the local backend: handles as arguments, depends_on, failure and cancel
propagation, the caller gone. Real runner processes, both stores."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pipelinefns
import pytest
from helpers import wait_for

import kinetic
from kinetic import JobStatus
from kinetic.model.dependency_verdict import DependencyView, judge
from kinetic.model.reasons import Reason
from kinetic.store import layout, open_store

run = kinetic.run()
download, preprocess, train = (run(pipelinefns.download), run(pipelinefns.preprocess),
                               run(pipelinefns.train))  # fmt: skip
slow, echo, combine = run(pipelinefns.slow), run(pipelinefns.echo), run(pipelinefns.combine)
fail_on = run(pipelinefns.fail_on)


def job_ids(store_uri: str) -> set[str]:
    return set(open_store(store_uri).list_children(layout.JOBS))


# -- the pure verdict -----------------------------------------------------------------------
def test_the_verdict_waits_fails_or_starts():
    ok = {"key": "jobs/a/result.pkl", "sha256": "f" * 64}
    a_ok = DependencyView("a", JobStatus.SUCCEEDED, result=ok)
    b_running = DependencyView("b", JobStatus.RUNNING)
    waiting = judge([a_ok, b_running])
    assert not waiting.ready and not waiting.failed and waiting.waiting_for == ("b",)
    assert waiting.reason == Reason.WAITING_FOR_DEPENDENCIES and "b" in waiting.message
    failed = judge([b_running, DependencyView("c", JobStatus.FAILED, "UserError", "boom")])
    assert failed.failed and failed.reason == Reason.DEPENDENCY_FAILED
    assert failed.message == "dependency c failed (UserError: boom)"
    cancelled = judge([DependencyView("c", JobStatus.CANCELLED, "Cancelled")])
    assert cancelled.message.startswith("dependency c was cancelled")
    assert judge([DependencyView("d", JobStatus.SUCCEEDED)]).failed  # no result to pass
    ready = judge([a_ok])
    assert ready.ready and ready.results == {"a": ok}


# -- values flow, the caller gone --------------------------------------------------------------
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


def test_three_stages_pass_values_with_the_caller_gone(store_uri, tmp_path):
    script = tmp_path / "submit.py"
    script.write_text(textwrap.dedent(SUBMITTER.format(tests=str(pipelinefns.__file__)[:-15])))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=240, check=True)  # fmt: skip
    raw_id, clean_id, model_id = out.stdout.split()  # the submitter has exited
    model = kinetic.attach(model_id)
    assert model.spec["depends_on"] == [clean_id]
    value = model.result(timeout=180)
    assert value["weights"] == pytest.approx(np.arange(6).sum() * 2 * 3)
    assert value["shape"] == (6,)
    clean = kinetic.attach(clean_id)
    np.testing.assert_array_equal(clean.result(timeout=60), np.arange(6) * 2.0)
    assert kinetic.attach(raw_id).state().status == JobStatus.SUCCEEDED


def test_a_job_waits_pending_naming_its_dependency(store_uri):
    first = slow.run_async(5, 4)
    second = echo.run_async(first)
    state = wait_for(
        lambda: (s := second.state()).reason == Reason.WAITING_FOR_DEPENDENCIES and s,
        timeout=60, what="WaitingForDependencies",
    )  # fmt: skip
    assert state.status == JobStatus.PENDING and first.job_id in state.message
    assert state.started is None
    assert second.result(timeout=120, cleanup=False) == 5
    assert second.state().started >= first.state().finished


def test_a_diamond_gets_both_values_and_depends_on_orders_only(store_uri):
    top = echo.run_async({"n": 1})
    left = echo.run_async([top, "left"])
    right = echo.run_async((top, "right"))
    audit = slow.run_async("audit", 1)
    bottom = combine.run_async(left, right, extra={"top": top}, depends_on=[audit.job_id])
    assert set(bottom.spec["depends_on"]) == {left.job_id, right.job_id, top.job_id,
                                              audit.job_id}  # fmt: skip
    value = bottom.result(timeout=180, cleanup=False)
    assert value == {"left": [{"n": 1}, "left"], "right": ({"n": 1}, "right"),
                     "extra": {"top": {"n": 1}}}  # fmt: skip
    assert bottom.state().started >= audit.state().finished  # ordered, no value passed


def test_a_value_a_dependent_still_needs_survives_result(store_uri):
    first = slow.run_async(np.ones(3), 2)
    second = slow.run_async(first, 0)
    third = echo.run_async(second)  # waits longer: second's value is still needed
    np.testing.assert_array_equal(first.result(timeout=120), np.ones(3))  # cleanup=True
    np.testing.assert_array_equal(third.result(timeout=120), np.ones(3))


# -- failure and cancel propagate ------------------------------------------------------------------
def test_a_failing_middle_stage_cancels_what_follows(store_uri):
    first = echo.run_async("raw")
    middle = fail_on.run_async(first)
    last = echo.run_async(middle)
    after_last = echo.run_async([last])
    final = after_last.wait(180)
    assert (final.status, final.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert last.job_id in final.message
    state = last.state()
    assert (state.status, state.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert middle.job_id in state.message and "bad input: 'raw'" in state.message
    assert state.started is None  # it never ran
    assert middle.state().status == JobStatus.FAILED
    with pytest.raises(ValueError):
        middle.result()
    assert first.result(timeout=60) == "raw"  # the upstream result is kept
    with pytest.raises(kinetic.JobCancelledError):
        last.result()


def test_cancel_with_dependents(store_uri):
    first = slow.run_async(1, 600)
    second = echo.run_async(first)
    third = echo.run_async({"x": second})
    unrelated = echo.run_async(7)
    wait_for(lambda: first.status() == JobStatus.RUNNING, timeout=60, what="RUNNING")
    wait_for(lambda: third.state().reason == Reason.WAITING_FOR_DEPENDENCIES, timeout=60,
             what="third waiting")  # fmt: skip
    state = first.cancel(dependents=True, timeout=60)
    assert state.status == JobStatus.CANCELLED
    for job in (second, third):
        ended = job.wait(60)
        assert ended.status == JobStatus.CANCELLED and ended.started is None
    assert unrelated.result(timeout=60) == 7


def test_cancelling_a_dependency_alone_ends_its_dependents(store_uri):
    first = slow.run_async(1, 600)
    second = echo.run_async(first)
    wait_for(lambda: first.status() == JobStatus.RUNNING, timeout=60, what="RUNNING")
    first.cancel()
    ended = second.wait(60)
    assert (ended.status, ended.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert f"dependency {first.job_id} was cancelled" in ended.message


# -- refused before anything is created ---------------------------------------------------------
def test_unknown_and_foreign_dependencies_are_refused(store_uri, tmp_path):
    before = job_ids(store_uri)
    with pytest.raises(kinetic.SpecError) as info:
        echo.run_async(1, depends_on=["no-such-job-1"])
    assert info.value.option == "depends_on" and "no such job" in str(info.value)
    with pytest.raises(kinetic.SpecError):
        echo.run_async(1, depends_on=[42])
    with pytest.raises(kinetic.SpecError):
        echo.run_async(1, depends_on="Not An Id")
    elsewhere = kinetic.run(store=(tmp_path / "other").as_uri())(pipelinefns.echo).run_async(1)
    with pytest.raises(kinetic.SpecError) as info:
        echo.run_async(elsewhere)
    assert "store" in str(info.value)
    assert job_ids(store_uri) == before  # nothing was created
    assert elsewhere.result(timeout=60) == 1


def test_a_command_job_can_wait_for_a_function_job(store_uri):
    first = slow.run_async(1, 1)
    command = kinetic.submit(["true"], depends_on=[first])
    assert command.result(timeout=120, cleanup=False) == 0
    assert command.state().started >= first.state().finished
    out = subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "submit", "--depends-on",
                          command.job_id, "--", "true"], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    third = kinetic.attach(out.stdout.strip())
    assert third.spec["depends_on"] == [command.job_id]
    assert third.result(timeout=120) == 0


# -- the operator's decision, pure ---------------------------------------------------------------
def test_the_operator_holds_ends_or_creates_with_the_results():
    from kinetic_operator.decisions import decide, status_patch
    from kinetic_operator.dependency_gate import dependency_verdict

    from kinetic.k8s.kineticjob import build_kineticjob

    spec = kinetic.JobSpec(depends_on=["up-1"]).to_dict()
    kj = build_kineticjob("down-1", function="f", store="gs://b", payload_sha256="a" * 64,
                          spec=spec)  # fmt: skip
    assert kj["spec"]["dependsOn"] == ["up-1"]
    kj["metadata"].update(namespace="ns", uid="u", generation=1,
                          creationTimestamp="2026-12-01T10:00:00Z")  # fmt: skip
    result = {"uri": "gs://b/jobs/up-1/result.pkl", "size": 3, "sha256": "b" * 64}

    def up(phase, **status):
        return lambda name: {"status": {"phase": phase, **status}} if name == "up-1" else None

    running = dependency_verdict(kj, up("RUNNING"))
    action = decide(kj, None, [], store_shared=True, dependencies=running)
    assert not action.create_job
    patch = status_patch(kj, None, [], action)
    assert (patch["phase"], patch["reason"]) == ("PENDING", "WaitingForDependencies")
    assert "up-1" in patch["message"]
    failed = dependency_verdict(kj, up("FAILED", reason="UserError", message="boom"))
    patch = status_patch(kj, None, [], decide(kj, None, [], store_shared=True,
                                              dependencies=failed))  # fmt: skip
    assert (patch["phase"], patch["reason"]) == ("CANCELLED", "DependencyFailed")
    assert patch["message"] == "dependency up-1 failed (UserError: boom)"
    done = dependency_verdict(kj, up("SUCCEEDED", result=result, attempts=2))
    action = decide(kj, None, [], store_shared=True, dependencies=done)
    assert action.create_job
    assert action.dependency_results == {
        "up-1": {"key": "jobs/up-1/attempts/2/result.pkl", "sha256": "b" * 64}
    }
    # Missing: not seen yet at first (watch events in any order), gone after a minute.
    from datetime import UTC, datetime

    soon = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)
    assert not dependency_verdict(kj, lambda _: None, now=soon).failed
    later = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    assert dependency_verdict(kj, lambda _: None, now=later).failed
