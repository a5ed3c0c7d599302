"""A whole batch (f.run_async_map) as a job's dependency, on the local backend: the list of
its values in input order, ordering only with depends_on, a failed item naming the batch
and its indexes. Real runner processes and batch supervisors, both stores."""

from __future__ import annotations

import batchfns
import numpy as np
import pipelinefns
import pytest

import kinetic
from kinetic import JobStatus
from kinetic.model.batch_dependency import batch_view, waiting_batch
from kinetic.model.dependency_verdict import DependencyView, judge
from kinetic.model.errors import SpecError
from kinetic.model.reasons import Reason

WAIT = 240  # generous: two cores shared with other test runs
run = kinetic.run()
echo, combine = run(pipelinefns.echo), run(pipelinefns.combine)
square, fail_if = run(batchfns.square), run(batchfns.fail_if)
download = run(pipelinefns.download)


# -- the pure view ------------------------------------------------------------------------------
def test_a_batch_is_one_dependency_waiting_then_ready_or_failed():
    ok = [DependencyView(f"b-{i}", JobStatus.SUCCEEDED, result={"key": "k", "sha256": f"{i}" * 64})
          for i in range(3)]  # fmt: skip
    waiting = judge([waiting_batch("b", "1/3 items succeeded")])
    assert not waiting.ready and waiting.waiting_for == ("b",)
    assert waiting.message == "waiting for batch b (1/3 items succeeded)"
    ready = judge([batch_view("b", ok, [1, 2, 1])])
    assert ready.ready
    assert ready.results == {"b": {"batch": [[1, "0" * 64], [2, "1" * 64], [1, "2" * 64]]}}
    bad = [ok[0], DependencyView("b-1", JobStatus.FAILED, "UserError", "ValueError: no"),
           DependencyView("b-2", JobStatus.CANCELLED, "BatchStopped")]  # fmt: skip
    failed = judge([batch_view("b", bad, [1, 1, 1])])
    assert failed.failed and failed.reason == Reason.DEPENDENCY_FAILED
    assert failed.message == ("dependency batch b failed (item 1 failed; item 2 cancelled; "
                              "the first: UserError: ValueError: no)")  # fmt: skip


def test_a_long_wait_is_named_briefly():
    views = [DependencyView(f"up-{i}", JobStatus.RUNNING) for i in range(200)]
    verdict = judge(views)
    assert verdict.message == ("waiting for " + ", ".join(f"up-{i}" for i in range(10))
                               + " and 190 more")  # fmt: skip
    assert len(verdict.waiting_for) == 200


# -- on the local backend -----------------------------------------------------------------------
def test_a_batch_as_an_argument_gives_its_values_in_input_order(store_uri):
    raw = download.run_async(3)
    batch = square.run_async_map([3, 1, 2, 5], max_concurrent=2)
    job = combine.run_async(batch, {"nested": [batch, (raw,)]}, extra=batch)
    assert job.spec["depends_on"] == [batch.batch_id, raw.job_id]
    value = job.result(timeout=WAIT)
    assert value["left"] == [9, 1, 4, 25] and value["extra"] == [9, 1, 4, 25]
    assert value["right"]["nested"][0] == [9, 1, 4, 25]
    np.testing.assert_array_equal(value["right"]["nested"][1][0], np.arange(3.0))
    assert all(s == JobStatus.SUCCEEDED for s in batch.statuses())  # the items stay


def test_depends_on_a_batch_orders_without_a_value(store_uri):
    batch = square.run_async_map([1, 2], max_concurrent=1)
    job = echo.run_async("after", depends_on=[batch])
    assert job.spec["depends_on"] == [batch.batch_id]
    state = job.state()
    if state.status == JobStatus.PENDING and state.reason == Reason.WAITING_FOR_DEPENDENCIES:
        assert f"batch {batch.batch_id}" in state.message
    assert job.result(timeout=WAIT, cleanup=False) == "after"
    finished = [batch.jobs[i].state().finished for i in range(2)]
    assert job.state().started >= max(finished)
    by_id = echo.run_async("by id", depends_on=[batch.batch_id])
    assert by_id.result(timeout=WAIT) == "by id"


def test_a_failed_item_fails_the_dependent_naming_the_batch_and_indexes(store_uri):
    batch = fail_if.run_async_map([(0, [1, 3]), (1, [1, 3]), (2, [1, 3]), (3, [1, 3])],
                                  max_concurrent=4)  # fmt: skip
    job = echo.run_async(batch)
    state = job.wait(timeout=WAIT)
    assert state.status == JobStatus.CANCELLED and state.reason == Reason.DEPENDENCY_FAILED
    assert state.message.startswith(f"dependency batch {batch.batch_id} failed (items 1, 3 failed")
    assert state.started is None  # never ran
    assert batch.statuses()[0] == JobStatus.SUCCEEDED  # the evidence is kept


def test_a_batch_elsewhere_is_refused_before_anything(store_uri, tmp_path):
    other = square.run_async_map(
        [1],
        max_concurrent=1,
    )
    with pytest.raises(SpecError, match="no such job"):
        echo.run_async(depends_on=["no-such-batch-00000000"])
    elsewhere = kinetic.run(store=(tmp_path / "elsewhere").as_uri())(pipelinefns.echo)
    with pytest.raises(SpecError, match="this job's store"):
        elsewhere.run_async(other)
    other.wait(timeout=WAIT)


def test_results_keep_the_items_a_waiting_job_needs(store_uri):
    batch = square.run_async_map([1, 2, 3], max_concurrent=3)
    gate = run(pipelinefns.slow).run_async("gate", 8)
    job = combine.run_async(batch, gate)  # waits for the batch and for the slow gate
    assert batch.results(timeout=WAIT) == [1, 4, 9]  # cleanup=True, but a job waits
    assert job.result(timeout=WAIT)["left"] == [1, 4, 9]
    assert batch.results(timeout=WAIT) == [1, 4, 9]
    assert batch.collected()["succeeded"] == [0, 1, 2]  # now collected: nothing waits


def test_jobs_tree_shows_a_batch_as_one_node_with_counts(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    batch = fail_if.run_async_map([(i, [3]) for i in range(5)], max_concurrent=5)
    merged = echo.run_async(batch)
    after = echo.run_async(merged)
    after.wait(timeout=WAIT)
    env = {**os.environ, "PYTHONPATH": str(Path(pipelinefns.__file__).parent)}

    def cli(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "tree", *args],
                              capture_output=True, text=True, timeout=300, check=True,
                              env=env).stdout  # fmt: skip

    graph = json.loads(cli(merged.job_id, "-o", "json"))
    ids = {n["job_id"] for n in graph["nodes"]}
    assert ids == {batch.batch_id, merged.job_id, after.job_id}  # no node per item
    node = next(n for n in graph["nodes"] if n["job_id"] == batch.batch_id)
    assert (node["kind"], node["status"], node["items"]) == ("batch", "FAILED", 5)
    assert node["counts"] == {"SUCCEEDED": 4, "FAILED": 1}
    assert node["summary"] == "4/5 succeeded, 1 failed"
    assert [batch.batch_id, merged.job_id] in graph["edges"]
    text = cli(merged.job_id)
    line = next(x for x in text.splitlines() if batch.batch_id in x and "batch:" in x)
    assert "FAILED" in line and "batch: 4/5 succeeded, 1 failed" in line
    assert len([x for x in text.splitlines() if batch.batch_id in x]) == 2  # its line, an edge
    from_batch = json.loads(cli(batch.batch_id, "-o", "json"))  # a batch's id as the root
    assert {n["job_id"] for n in from_batch["nodes"]} == ids
