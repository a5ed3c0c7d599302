"""Batches (f.run_async_map) on the test control plane: the operator drives each
KineticBatch (operator/kinetic_operator/batch_driver.py), creating its items' KineticJobs
as slots free; the simulated node runs them. Items record their start and end
(tests/batchfns.py), so the tests check the concurrency limit and that none ran twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import batchfns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.k8s.names import BATCH_PLURAL, GROUP, LABEL_BATCH, PLURAL, VERSION
from kinetic.model.reasons import Reason

pytestmark = pytest.mark.k8s

TESTS = Path(__file__).resolve().parents[1]
WAIT = 300  # generous: the machine is shared by several test runs


def entries(log: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(log.glob("*.json"))]


def max_overlap(records: list[dict]) -> int:
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def kineticbatch(api, namespace: str, batch_id: str) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, BATCH_PLURAL, batch_id
    )


def items_of(api, namespace: str, batch_id: str) -> list[dict]:
    return client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, label_selector=f"{LABEL_BATCH}={batch_id}"
    )["items"]


def item_pods_running(api, namespace: str, batch_id: str) -> list[str]:
    names = {kj["metadata"]["name"] for kj in items_of(api, namespace, batch_id)}
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return [p.metadata.name for p in pods
            if (p.metadata.labels or {}).get("kinetic.dev/job-id") in names
            and p.status.phase in ("Pending", "Running")]  # fmt: skip


def a_log(shared_root: Path, tmp_path: Path) -> Path:
    log = shared_root / f"{tmp_path.name}-log"
    log.mkdir()
    return log


CALLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import batchfns, kinetic
f = kinetic.run(env={env!r})(batchfns.timed)
batch = f.run_async_map([(i, {log!r}, 1.0) for i in range({n})], max_concurrent=2)
print(batch.batch_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("store", ["file", "gs"])
def test_the_batch_finishes_after_its_caller_is_killed(store, kube, namespace, operator,
                                                       shared_root, tmp_path, request,
                                                       monkeypatch):  # fmt: skip
    """On a file:// store the nodes share, and on a bucket (the GCS emulator, which the
    pods reach at STORAGE_EMULATOR_HOST): the operator needs neither."""
    env = {}
    if store == "gs":
        monkeypatch.setenv("KINETIC_STORE", request.getfixturevalue("gcs_store_uri"))
        env = {"STORAGE_EMULATOR_HOST": request.getfixturevalue("gcs_emulator").url}
    log = a_log(shared_root, tmp_path)
    script = tmp_path / "caller.py"
    script.write_text(textwrap.dedent(CALLER.format(tests=str(TESTS), log=str(log), n=6,
                                                    env=env)))  # fmt: skip
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=WAIT)  # fmt: skip
    assert out.returncode == -signal.SIGKILL, out.stderr
    batch_id = out.stdout.split()[0]
    # Nobody looks at the batch until the operator has recorded its end.
    wait_for(lambda: (kineticbatch(kube, namespace, batch_id).get("status") or {}).get("phase")
             == "SUCCEEDED", WAIT, 1.0, f"the batch's end\n{operator.tail()}")  # fmt: skip
    status = kineticbatch(kube, namespace, batch_id)["status"]
    assert (status["succeeded"], status["failed"], status["running"]) == (6, 0, 0)
    shown = subprocess.run(["kubectl", "--kubeconfig", str(operator.kubeconfig), "get",
                            "kineticbatches", "-n", namespace, batch_id],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if shown.returncode == 0:  # kubectl may be absent: the columns are checked when it is
        assert "SUCCEEDED" in shown.stdout and "Succeeded" in shown.stdout.title()
    batch = kinetic.attach_batch(batch_id)
    assert batch.record.store.startswith(f"{store}://")
    assert batch.status_counts() == {"SUCCEEDED": 6}
    assert batch.results(timeout=WAIT) == list(range(6))
    assert batch.collected()["succeeded"] == list(range(6))  # collected: the record says so
    records = entries(log)
    assert sorted(r["index"] for r in records) == list(range(6))  # each ran once
    assert [r["batch_index"] for r in sorted(records, key=lambda r: r["index"])] == list(range(6))
    assert max_overlap(records) <= 2
    # The items are ordinary KineticJobs, found by their batch's label, owned by the batch.
    kjs = items_of(kube, namespace, batch_id)
    assert {kj["metadata"]["ownerReferences"][0]["kind"] for kj in kjs} <= {"KineticBatch"}


@pytest.mark.parametrize("cancel_running", [False, True])
def test_fail_fast(cancel_running, kube, namespace, operator, shared_root, tmp_path):
    log = a_log(shared_root, tmp_path)
    f = kinetic.run()(batchfns.fail_if)
    inputs = [(0, [0], 0.0, str(log))] + [(i, [0], 8.0, str(log)) for i in range(1, 6)]
    batch = f.run_async_map(inputs, max_concurrent=2, fail_fast=True,
                            cancel_running_on_fail=cancel_running)  # fmt: skip
    counts = batch.wait(WAIT)
    states = batch.states()
    assert states[0].status == JobStatus.FAILED
    started = {r["index"] for r in entries(log)} | {
        i for i, s in enumerate(states) if s.status == JobStatus.CANCELLED
        and s.reason != Reason.BATCH_STOPPED}  # fmt: skip
    never = [i for i, s in enumerate(states) if s.reason == Reason.BATCH_STOPPED]
    assert never and all(states[i].status == JobStatus.CANCELLED for i in never)
    assert not set(never) & started
    if cancel_running:
        assert states[1].status == JobStatus.CANCELLED and states[1].reason != Reason.BATCH_STOPPED
    else:
        assert states[1].status == JobStatus.SUCCEEDED
    assert counts.get("RUNNING", 0) == counts.get("PENDING", 0) == 0
    assert kineticbatch(kube, namespace, batch.batch_id)["status"]["phase"] == "FAILED"
    assert item_pods_running(kube, namespace, batch.batch_id) == []


def test_cancel_with_items_pending_and_running(kube, namespace, operator, shared_root, tmp_path):
    log = a_log(shared_root, tmp_path)
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 120.0) for i in range(5)], max_concurrent=2)
    wait_for(lambda: batch.status_counts().get("RUNNING") == 2, WAIT, 1.0, "two items running")
    assert batch.status_counts() == {"RUNNING": 2, "PENDING": 3}
    # An item the operator has not created yet is waiting, as a job; it has no output yet.
    waiting = batch.jobs[4]
    state = waiting.state()
    assert state.status == JobStatus.PENDING and state.reason == Reason.BATCH_QUEUED, state
    assert "waiting for a slot in its batch" in (state.message or "")
    assert waiting.status() == JobStatus.PENDING
    assert waiting.logs() == ""
    counts = batch.cancel(timeout=WAIT)
    assert counts == {"CANCELLED": 5}, counts
    reasons = [s.reason for s in batch.states()]
    assert reasons[2:] == [Reason.BATCH_STOPPED] * 3
    state = batch.jobs[4].state()  # the handle agrees with the batch: never to start
    assert state.status == JobStatus.CANCELLED and state.reason == Reason.BATCH_STOPPED, state
    assert item_pods_running(kube, namespace, batch.batch_id) == []
    assert len(items_of(kube, namespace, batch.batch_id)) == 2  # the others never created
    batch.cleanup()
    wait_for(lambda: not items_of(kube, namespace, batch.batch_id), WAIT, 1.0, "items deleted")


def test_cancel_an_item_not_created_yet(kube, namespace, operator, shared_root, tmp_path):
    log = a_log(shared_root, tmp_path)
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 5.0) for i in range(4)], max_concurrent=1)
    wait_for(lambda: batch.status_counts().get("RUNNING") == 1, WAIT, 1.0, "one item running")
    item = batch.jobs[3]
    assert item.state().reason == Reason.BATCH_QUEUED
    state = item.cancel(timeout=WAIT)
    assert state.status == JobStatus.CANCELLED, state
    # The batch goes on with the others; the cancelled one never runs.
    assert batch.wait(WAIT, progress=False) == {"SUCCEEDED": 3, "CANCELLED": 1}
    assert sorted(r["index"] for r in entries(log)) == [0, 1, 2]
    assert max_overlap(entries(log)) == 1
    assert batch.jobs[3].state().status == JobStatus.CANCELLED


def test_the_operator_restarted_mid_batch(kube, namespace, operator, shared_root, tmp_path):
    log = a_log(shared_root, tmp_path)
    f = kinetic.run()(batchfns.timed)
    batch = f.run_async_map([(i, str(log), 3.0) for i in range(6)], max_concurrent=2)
    wait_for(lambda: len(entries(log)) >= 1, WAIT, 0.5, "an item's end")
    operator.kill()
    time.sleep(5)  # items end meanwhile; nobody creates the next ones
    operator.start()
    assert batch.results(timeout=WAIT) == list(range(6)), operator.tail()
    records = entries(log)
    assert sorted(r["index"] for r in records) == list(range(6))  # none lost, none twice
    assert max_overlap(records) <= 2


def test_results_failures_as_completed_and_cleanup(kube, namespace, operator):
    f = kinetic.run()(batchfns.fail_if)
    batch = f.run_async_map([(i, [1]) for i in range(4)], max_concurrent=2)
    ended = [job.job_id for job in batch.as_completed(timeout=WAIT)]
    assert sorted(ended) == sorted(f"{batch.batch_id}-{i}" for i in range(4))
    with pytest.raises(kinetic.BatchError) as info:
        batch.results(timeout=WAIT)  # cleanup=True: the succeeded items are collected
    assert [x.index for x in info.value.failures] == [1]
    assert info.value.partial_results == {0: 0, 2: 20, 3: 30}
    assert "item 1 is bad" in str(info.value.failures[0].exception)
    # The collected items are gone from the cluster and are never created again; the
    # failed one keeps its evidence; the batch still says it all.
    wait_for(lambda: len(items_of(kube, namespace, batch.batch_id)) == 1, WAIT, 1.0, "collected")
    again = kinetic.attach_batch(batch.batch_id)
    assert again.status_counts() == {"SUCCEEDED": 3, "FAILED": 1}
    assert "item 1 is bad" in again.jobs[1].logs()
    time.sleep(3)  # the operator had every chance to (wrongly) create them again
    assert len(items_of(kube, namespace, batch.batch_id)) == 1
    again.cleanup()
    wait_for(lambda: not items_of(kube, namespace, batch.batch_id), WAIT, 1.0, "items deleted")
    with pytest.raises(kinetic.JobNotFoundError):
        kinetic.attach_batch(batch.batch_id)


ATTACHER = """
import json, sys
import kinetic
batch = kinetic.attach_batch(sys.argv[1])
values = batch.results(cleanup=False, timeout={wait})
states = batch.states()
print(json.dumps({{"values": values, "counts": batch.status_counts(),
                  "attempts": [s.attempts for s in states]}}))
"""


def test_retry_failed_runs_only_the_failed_items_again(kube, namespace, operator, shared_root,
                                                       tmp_path):  # fmt: skip
    log = a_log(shared_root, tmp_path)
    flag = shared_root / f"{tmp_path.name}-flag"
    flag.write_text("fail")
    f = kinetic.run(retry_backoff=0)(batchfns.flagged_timed)
    batch = f.run_async_map([(i, str(flag), str(log)) for i in range(4)], max_concurrent=2,
                            retries=1)  # fmt: skip
    assert batch.wait(WAIT) == {"SUCCEEDED": 2, "FAILED": 2}
    assert [s.attempts for s in batch.states()] == [1, 2, 1, 2]  # retries=1 used up
    assert kineticbatch(kube, namespace, batch.batch_id)["status"]["phase"] == "FAILED"
    # Still failing: each requeued item gets its whole retry budget again (attempts 3, 4).
    assert batch.retry_failed() == [1, 3]
    # At once, before the operator acts: waiting again (or already started again).
    assert batch.states()[1].status in (JobStatus.PENDING, JobStatus.RUNNING)
    assert batch.wait(WAIT) == {"SUCCEEDED": 2, "FAILED": 2}
    assert [s.attempts for s in batch.states()] == [1, 4, 1, 4]
    flag.unlink()
    retried = subprocess.run([sys.executable, "-m", "kinetic.cli", "batches", "retry",
                              batch.batch_id, "-o", "json"], capture_output=True, text=True,
                             timeout=WAIT)  # fmt: skip
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["queued"] == [1, 3]

    def phase() -> str | None:
        return (kineticbatch(kube, namespace, batch.batch_id).get("status") or {}).get("phase")

    wait_for(lambda: phase() == "SUCCEEDED", WAIT, 1.0, f"the batch's end\n{operator.tail()}")
    status = kineticbatch(kube, namespace, batch.batch_id)["status"]
    assert (status["succeeded"], status["failed"], status["pending"]) == (4, 0, 0), status
    # Another process attaches after the retry and collects every value.
    script = tmp_path / "attacher.py"
    script.write_text(textwrap.dedent(ATTACHER.format(wait=WAIT)))
    out = subprocess.run([sys.executable, str(script), batch.batch_id], capture_output=True,
                         text=True, timeout=WAIT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen == {"values": [0, 1, 2, 3], "counts": {"SUCCEEDED": 4}, "attempts": [1, 5, 1, 5]}
    # Only the failed items ran again, in the same batch, never beyond the limit.
    runs = sorted(r["index"] for r in entries(log))
    assert runs == [0, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3], runs
    assert max_overlap(entries(log)) <= 2
    states = batch.states()
    assert [a["reason"] for a in states[1].previous_attempts] == [Reason.USER_ERROR] * 4
    assert "flagged 1" in batch.jobs[1].logs(attempt=1)  # the first attempt's evidence
    assert len(items_of(kube, namespace, batch.batch_id)) == 4  # no new KineticJob
