"""Batches (f.run_async_map) on the local backend: real runner processes, a real detached
batch supervisor, both stores for the central promises (the rest on file://)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import batchfns
import pytest
from helpers import wait_for

import kinetic
from kinetic import JobStatus
from kinetic.backends.local import read_json
from kinetic.model.batch_plan import BatchOptions, BatchView, plan
from kinetic.model.reasons import Reason
from kinetic.store import layout, open_store
from kinetic.system.procinfo import ProcessIdentity

TESTS = Path(__file__).parent
WAIT = 240  # generous: two cores shared with other test runs


def entries(log: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(log.glob("*.json"))]


def max_overlap(records: list[dict]) -> int:
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records],
                    key=lambda e: (e[0], e[1]))  # fmt: skip
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def runners_alive(batch) -> list[str]:
    """Item jobs whose runner process (any attempt's) is still alive."""
    store = open_store(batch.record.store)
    alive = []
    for job_id in batch.record.job_ids():
        for attempt in range(1, 4):
            launch = read_json(store, layout.launch_key(job_id, attempt))
            if launch and ProcessIdentity.from_dict(launch).alive():
                alive.append(job_id)
    return alive


# -- the plan (pure) ----------------------------------------------------------------------------
def test_the_plan_never_exceeds_the_limit_and_stops_as_asked():
    opts = BatchOptions(max_concurrent=3, fail_fast=False, cancel_running_on_fail=False)
    assert plan(BatchView((4, 5, 6, 7), 1, False, False), opts).launch == (4, 5)
    assert plan(BatchView((4, 5), 3, False, False), opts).launch == ()
    assert plan(BatchView((), 0, True, False), opts).done
    fast = BatchOptions(3, fail_fast=True, cancel_running_on_fail=False)
    stopped = plan(BatchView((4, 5), 2, True, False), fast)
    assert stopped.launch == () and stopped.skip == (4, 5)
    assert stopped.skip_reason == Reason.BATCH_STOPPED and not stopped.stop_running
    harsh = BatchOptions(3, fail_fast=True, cancel_running_on_fail=True)
    assert plan(BatchView((4,), 2, True, False), harsh).stop_running
    cancelled = plan(BatchView((4,), 2, False, True), opts)
    assert cancelled.skip_reason == Reason.CANCELLED and cancelled.stop_running


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inputs", "options", "named"),
    [
        ([], {}, "inputs"),
        (5, {}, "inputs"),
        ("abc", {}, "inputs"),
        ([1, 2], {"max_concurrent": 0}, "max_concurrent"),
        ([1, 2], {"max_concurrent": 2.5}, "max_concurrent"),
        ([1, 2], {"retries": -1}, "retries"),
        ([1, 2], {"fail_fast": "yes"}, "fail_fast"),
        ([1, 2], {"input_mode": "zip"}, "input_mode"),
        ([1, 2], {"input_mode": "kwargs"}, "inputs[0]"),
        ([1, 2, threading.Lock()], {}, "inputs[2]"),
    ],
)
def test_bad_input_is_refused_before_anything_is_created(inputs, options, named, tmp_path):
    f = kinetic.run()(batchfns.square)
    with pytest.raises(kinetic.SpecError) as info:
        f.run_async_map(inputs, **options)
    assert info.value.option == named
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    store = tmp_path / "store"
    left = [p for p in store.rglob("*") if p.is_file()] if store.exists() else []
    assert left == []


def test_an_unpicklable_item_is_named_with_what_failed(tmp_path):
    f = kinetic.run()(batchfns.square)
    with pytest.raises(kinetic.SpecError, match=r"inputs\[1\].*cannot pickle .*lock"):
        f.run_async_map([1, threading.Lock(), 3])


# -- the whole flow, both stores ---------------------------------------------------------------
CALLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import batchfns, kinetic
f = kinetic.run()(batchfns.whoami)
batch = f.run_async_map(range({n}), max_concurrent=3)
print(batch.batch_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_batch_finishes_after_its_caller_is_killed(store_uri, tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(textwrap.dedent(CALLER.format(tests=str(TESTS), n=7)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=WAIT)  # fmt: skip
    assert out.returncode == -signal.SIGKILL, out.stderr
    batch_id = out.stdout.split()[0]
    # Nobody looks at the batch until it has finished: its driver did it all alone.
    store = open_store(store_uri)
    wait_for(lambda: store.exists(layout.batch_done_key(batch_id)), WAIT, 0.5, "the batch's end")
    batch = kinetic.attach_batch(batch_id)
    assert batch.status_counts() == {"SUCCEEDED": 7}
    values = batch.results()
    assert [v["x"] for v in values] == list(range(7))
    assert [v["index"] for v in values] == list(range(7))  # kinetic.batch_index()
    assert [v["job"] for v in values] == [f"{batch_id}-{i}" for i in range(7)]
    # The function was stored once; each item's payload holds only its arguments.
    assert store.exists(layout.batch_function_key(batch_id))


def test_results_failures_and_cleanup(store_uri):
    f = kinetic.run()(batchfns.fail_if)
    batch = f.run_async_map([(i, [1, 3]) for i in range(5)], max_concurrent=5)
    with pytest.raises(kinetic.BatchError) as info:
        batch.results(cleanup=False, timeout=WAIT)
    err = info.value
    assert [x.index for x in err.failures] == [1, 3]
    assert err.partial_results == {0: 0, 2: 20, 4: 40}
    assert err.submission_failures == []
    failure = err.failures[0]
    assert isinstance(failure.exception, ValueError) and "item 1 is bad" in str(failure.exception)
    assert failure.reason == Reason.USER_ERROR and failure.input_repr == "(1, [1, 3])"
    values = batch.results(return_exceptions=True, cleanup=True)
    assert values[0] == 0 and values[4] == 40 and isinstance(values[3], ValueError)
    # Collected items are gone; failed ones keep their evidence; the batch still says it all.
    again = kinetic.attach_batch(batch.batch_id)
    assert again.status_counts() == {"SUCCEEDED": 3, "FAILED": 2}
    assert again.collected()["succeeded"] == [0, 2, 4]
    assert "item 3 is bad" in again.jobs[3].logs()
    with pytest.raises(kinetic.JobNotFoundError):
        again.jobs[0].status()
    again.cleanup()
    with pytest.raises(kinetic.JobNotFoundError):
        kinetic.attach_batch(batch.batch_id)
    assert kinetic.list_jobs() == []


# -- orchestration (file store) ----------------------------------------------------------------
def test_the_concurrency_limit_is_never_exceeded(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 1.0) for i in range(8)], max_concurrent=3)
    assert batch.results(timeout=WAIT) == list(range(8))
    records = entries(log)
    assert sorted(r["index"] for r in records) == list(range(8))  # each ran once
    assert max_overlap(records) <= 3
    assert max_overlap(records) >= 2  # and they did run side by side


def test_failing_items_are_retried_in_their_slot(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    for i in (0, 2):
        (flags / str(i)).write_text("fail once")
    f = kinetic.run(retry_backoff=0)(batchfns.flaky)
    batch = f.run_async_map([(i, str(flags)) for i in range(3)], max_concurrent=2, retries=1)
    assert batch.results(cleanup=False, timeout=WAIT) == [0, 1, 2]
    attempts = [s.attempts for s in batch.states()]
    assert attempts == [2, 1, 2]
    assert "flaky 0" in batch.jobs[0].logs(attempt=1)


@pytest.mark.parametrize("cancel_running", [False, True])
def test_fail_fast(cancel_running, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.fail_if)
    # Items beside the failing one must still run when its failure is seen: under load that
    # can take many seconds, so those to be cancelled sleep far longer than that.
    seconds = 120.0 if cancel_running else 6.0
    inputs = [(0, [0], 0.0, str(log))] + [(i, [0], seconds, str(log)) for i in range(1, 6)]
    batch = f.run_async_map(inputs, max_concurrent=2, fail_fast=True,
                            cancel_running_on_fail=cancel_running)  # fmt: skip
    batch.wait(WAIT)
    states = batch.states()
    assert states[0].status == JobStatus.FAILED
    started = [i for i, s in enumerate(states) if s.reason != Reason.BATCH_STOPPED]
    never = [i for i, s in enumerate(states) if s.reason == Reason.BATCH_STOPPED]
    assert never and all(states[i].status == JobStatus.CANCELLED for i in never)
    assert len(started) <= 3  # item 0, the one beside it, at most one more started meanwhile
    running_then = [i for i in started if i != 0]
    expected = JobStatus.CANCELLED if cancel_running else JobStatus.SUCCEEDED
    assert all(states[i].status == expected for i in running_then)
    assert sorted(r["index"] for r in entries(log)) == ([0] if cancel_running else sorted(started))
    wait_for(lambda: runners_alive(batch) == [], 60, 0.2, "every runner gone")
    # retry_failed: the failure and those never started, in the same batch.
    assert set(batch.retry_failed()) == {0, *never}
    batch.cancel(timeout=WAIT)


def test_cancel_stops_waiting_and_running_items(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 120.0) for i in range(6)], max_concurrent=2)
    wait_for(lambda: batch.status_counts().get("RUNNING") == 2, WAIT, 0.2, "two running")
    counts = batch.cancel(timeout=WAIT)
    assert counts == {"CANCELLED": 6}
    assert [s.reason for s in batch.states()][2:] == [Reason.CANCELLED] * 4
    wait_for(lambda: runners_alive(batch) == [], 60, 0.2, "every runner gone")
    assert entries(log) == []  # nothing ran to its end
    time.sleep(1.0)
    assert batch.status_counts() == {"CANCELLED": 6}  # and nothing started afterwards


def test_retry_failed_runs_only_the_failures_again(tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("fail")
    f = kinetic.run()(batchfns.fail_while_flag)
    batch = f.run_async_map([(i, str(flag)) for i in range(4)], max_concurrent=4)
    batch.wait(WAIT)
    assert batch.status_counts() == {"SUCCEEDED": 2, "FAILED": 2}
    flag.unlink()
    assert batch.retry_failed() == [1, 3]
    assert batch.results(cleanup=False, timeout=WAIT) == [0, 1, 2, 3]
    states = batch.states()
    assert [s.attempts for s in states] == [1, 2, 1, 2]
    assert states[1].previous_attempts[0]["reason"] == Reason.USER_ERROR
    assert "flagged 1" in batch.jobs[1].logs(attempt=1)  # the first attempt's evidence


def test_retry_failed_gives_an_item_its_whole_retry_budget_again():
    f = kinetic.run(retry_backoff=0.1)(batchfns.fail_if)
    batch = f.run_async_map([(0, []), (1, [1])], max_concurrent=2, retries=1)
    batch.wait(WAIT)
    assert batch.states()[1].attempts == 2  # its first attempt and its one retry
    assert batch.retry_failed() == [1]
    batch.wait(WAIT)
    state = batch.states()[1]
    # Two more, as on Kubernetes (kinetic.k8s.batch_items): retry_failed() renews the budget.
    assert state.status == JobStatus.FAILED and state.attempts == 4, state
    assert [r.get("requeued") for r in state.previous_attempts] == [None, True, None]


def test_as_completed_hands_each_item_once_in_completion_order(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(0, str(log), 4.0), (1, str(log), 0.1), (2, str(log), 2.0)],
                            max_concurrent=3)  # fmt: skip
    order = [h.batch["index"] for h in batch.as_completed(timeout=WAIT)]
    assert sorted(order) == [0, 1, 2] and order[-1] == 0
    assert batch.results(ordered=False, cleanup=False)[-1] == 0
    assert batch.results(ordered=True, cleanup=False) == [0, 1, 2]


def test_a_killed_driver_is_replaced_and_no_item_runs_twice(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 1.0) for i in range(6)], max_concurrent=2)
    store = open_store(batch.record.store)
    first = layout.batch_driver_prefix(batch.batch_id, 1)
    launch = wait_for(lambda: read_json(store, f"{first}/launch.json"), WAIT, what="the driver")
    wait_for(lambda: entries(log), WAIT, 0.2, "an item to finish")
    os.kill(launch["pid"], signal.SIGKILL)
    # The next reader finds it dead and starts the next generation.
    again = kinetic.attach_batch(batch.batch_id)
    values = again.results(cleanup=False, timeout=WAIT, return_exceptions=True)
    # If the kill landed between an item's claim and its runner's launch, that item was
    # never run, and the new driver cannot tell it from a runner slow to start: rather than
    # risk running it twice it ends FAILED/Lost, saying so; retry_failed() runs it (the
    # documented promise, docs/batches.md). Nothing is run twice either way.
    lost = [i for i, v in enumerate(values) if isinstance(v, BaseException)]
    for index in lost:
        state = again.jobs[index].state()
        assert state.reason == "Lost" and "driver stopped while starting it" in state.message
        assert index not in {r["index"] for r in entries(log)}  # it never ran
    if lost:
        assert again.retry_failed() == lost
        values = again.results(cleanup=False, timeout=WAIT)
    assert values == list(range(6))
    assert sorted(r["index"] for r in entries(log)) == list(range(6))  # once each
    assert store.exists(f"{layout.batch_driver_prefix(batch.batch_id, 2)}/claim.json")
    assert max_overlap(entries(log)) <= 2


def test_map_blocks_and_returns_the_values(tmp_path):
    f = kinetic.run()(batchfns.square)
    assert f.map(range(5), max_concurrent=5) == [0, 1, 4, 9, 16]
    batches = kinetic.list_batches()
    assert len(batches) == 1 and batches[0].status_counts() == {"SUCCEEDED": 5}


def test_input_modes(tmp_path):
    f = kinetic.run()(batchfns.whoami)
    single = f.run_async_map([(1, 2)], input_mode="single").results()
    assert single[0]["x"] == (1, 2)
    kw = f.run_async_map([{"x": 3}]).results()
    assert kw[0]["x"] == 3
    args = f.run_async_map([[4]], input_mode="args").results()
    assert args[0]["x"] == 4


# -- the CLI -------------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kinetic.cli", *args], capture_output=True,
                          text=True, timeout=WAIT, stdin=subprocess.DEVNULL)  # fmt: skip


def test_the_batches_commands(tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("fail")
    f = kinetic.run()(batchfns.fail_while_flag)
    batch = f.run_async_map([(i, str(flag)) for i in range(4)], max_concurrent=4)
    batch.wait(WAIT)
    listed = json.loads(cli("batches", "list", "-o", "json").stdout)
    assert [b["batch_id"] for b in listed] == [batch.batch_id]
    assert listed[0]["counts"] == {"SUCCEEDED": 2, "FAILED": 2}
    text = cli("batches", "list").stdout
    assert "2/4 succeeded, 2 failed" in text
    status = json.loads(cli("batches", "status", batch.batch_id, "-o", "json").stdout)
    assert [i["index"] for i in status["items_not_succeeded"]] == [1, 3]
    out = cli("batches", "results", batch.batch_id, "-o", "json")
    assert out.returncode == 1
    items = json.loads(out.stdout)["items"]
    assert items[0] == {"index": 0, "value": 0} and "flagged 1" in items[1]["error"]
    jobs = json.loads(cli("jobs", "list", "--batch", batch.batch_id, "-o", "json").stdout)
    assert [j["job_id"] for j in jobs] == [f"{batch.batch_id}-{i}" for i in range(4)]
    table = cli("jobs", "list", "--batch", batch.batch_id, "--limit", "3").stdout.splitlines()
    assert [row.split("\t")[:3] for row in table[1:]] == [
        [f"{batch.batch_id}-0", "fail_while_flag", "SUCCEEDED"],
        [f"{batch.batch_id}-1", "fail_while_flag", "FAILED"],
        [f"{batch.batch_id}-2", "fail_while_flag", "SUCCEEDED"],
    ]
    flag.unlink()
    retried = json.loads(cli("batches", "retry", batch.batch_id, "-o", "json").stdout)
    assert retried["queued"] == [1, 3]
    out = cli("batches", "results", batch.batch_id, "--cleanup")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["0\t0", "1\t1", "2\t2", "3\t3"]
    assert "4/4 succeeded" in cli("batches", "status", batch.batch_id).stdout
    assert cli("batches", "cancel", batch.batch_id).returncode == 0
    assert cli("batches", "cleanup", batch.batch_id).returncode == 0
    assert cli("batches", "status", batch.batch_id).returncode == 3  # not found


def test_the_function_is_stored_once_and_items_hold_only_their_arguments(tmp_path):
    from kinetic.wire.framing import load_framed

    f = kinetic.run()(batchfns.square)
    batch = f.run_async_map([3, 4], max_concurrent=1)
    store = open_store(batch.record.store)
    payload = load_framed(store, layout.payload_key(f"{batch.batch_id}-1"))
    assert payload.function is None and payload.args == (4,)
    assert batch.jobs[1].batch["function_sha256"] == batch.record.function_sha256
    assert batch.results() == [9, 16]


def test_items_of_a_batch_never_committed_are_collected(tmp_path):
    """A client killed after writing its items but before batch.json (the commit): the
    items never show, and once old enough they are deleted like any unfinished submission."""
    f = kinetic.run()(batchfns.square)
    batch = f.run_async_map([1], max_concurrent=1)
    batch.wait(WAIT)
    root = tmp_path / "store"
    item = f"{batch.batch_id}-0"
    (root / layout.batch_key(batch.batch_id)).unlink()  # as if never written
    handle = json.loads((root / layout.handle_key(item)).read_text())
    handle["created"] = "2020-01-01T00:00:00Z"
    (root / layout.handle_key(item)).write_text(json.dumps(handle))
    (root / layout.state_key(item)).unlink()  # as if it never started
    (root / layout.launch_key(item)).unlink()
    assert kinetic.list_jobs() == [] and kinetic.list_batches() == []
    assert not (root / layout.job_prefix(item)).exists()


def test_an_item_retried_as_a_job_of_its_own(tmp_path):
    f = kinetic.run()(batchfns.fail_if)
    batch = f.run_async_map([(0, [0]), (1, [0])], max_concurrent=2)
    batch.wait(WAIT)
    again = batch.jobs[0].retry(force=True)
    with pytest.raises(ValueError, match="item 0 is bad"):  # the batch's function ran again
        again.result(timeout=WAIT)
    assert again.retry_of == f"{batch.batch_id}-0"
    assert batch.status_counts() == {"SUCCEEDED": 1, "FAILED": 1}


def test_cleanup_of_a_running_batch_leaves_nothing_running(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 120.0) for i in range(4)], max_concurrent=2)
    store = open_store(batch.record.store)
    first = layout.batch_driver_prefix(batch.batch_id, 1)
    driver = wait_for(lambda: read_json(store, f"{first}/launch.json"), 30, what="the driver")
    wait_for(lambda: batch.status_counts().get("RUNNING") == 2, WAIT, 0.2, "two running")
    batch.cleanup()
    wait_for(lambda: runners_alive(batch) == [], 60, 0.2, "every runner gone")
    wait_for(lambda: not ProcessIdentity.from_dict(driver).alive(), 60, 0.2, "the driver gone")
    assert kinetic.list_jobs() == [] and kinetic.list_batches() == []
    assert not (tmp_path / "store" / layout.batch_prefix(batch.batch_id)).exists()
