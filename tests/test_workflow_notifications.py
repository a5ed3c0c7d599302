"""notify: on a workflow: ONE summary when its last job ends, sent by that job's runner with
the caller gone, to real HTTP receivers; its jobs never notify on their own; a retry's new
end sends a new summary. Real runner processes, both stores.

Kubernetes (the operator sends it) is tests/k8s/test_workflow_notifications_k8s.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import wait_for
from notify_receiver import Receiver

import kinetic
import kinetic.workflow
from kinetic import JobStatus
from kinetic.model.reasons import Reason
from kinetic.store import layout, open_store
from kinetic.system import notify_keep
from kinetic.wire.notification import url_host
from kinetic.wire.workflow_notification import (
    JOBS_SHOWN,
    all_ended,
    build_workflow_notification,
    workflow_body_for,
    workflow_outcome,
)

WAIT = 240
TOKEN = "T0KEN-secret-part"  # in every receiver URL's path: must never reach the store

# a → b, a → c; b fails when FAIL is in its argument, d waits for b.
TRIANGLE = """
name: tri
notify: [{url!r}]
jobs:
  - {{name: a, command: sh, args: ["-c", "sleep 2; echo a"]}}
  - {{name: b, command: sh, args: ["-c", "test ! -e {flag}"], depends_on: [a]}}
  - {{name: c, command: sh, args: ["-c", "echo c"], depends_on: [a]}}
"""
WITH_D = '  - {name: d, command: sh, args: ["-c", "echo d"], depends_on: [b]}\n'

CALLER = """
import os, signal, sys
import kinetic.workflow
handle = kinetic.workflow.run(sys.argv[1])
print(handle.workflow_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


# -- the summary (pure) -------------------------------------------------------------------
def test_the_summary_counts_lists_and_bounds_the_jobs():
    S, F, C = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED
    jobs = [
        ("a", "a-1", S, None),
        ("b", "b-1", F, "UserError"),
        ("d", "d-1", C, "DependencyFailed"),
    ]
    note = build_workflow_notification(
        workflow_id="wf-x-1", name="x", generation=2, jobs=jobs, duration=3.25,
        finished="2026-12-01T10:00:00Z", status_cmd="kinetic workflow status wf-x-1",
    )  # fmt: skip
    assert note["kind"] == "workflow" and note["status"] == "FAILED" and note["event"] == "failed"
    assert note["counts"] == {"SUCCEEDED": 1, "FAILED": 1, "CANCELLED": 1} and note["total"] == 3
    assert note["jobs"][1] == {"name": "b", "job_id": "b-1", "status": "FAILED",
                               "reason": "UserError"}  # fmt: skip
    assert note["generation"] == 2 and note["duration_s"] == 3.25 and note["jobs_more"] == 0
    many = [(f"j{i}", f"j{i}-1", S, None) for i in range(JOBS_SHOWN + 7)]
    big = build_workflow_notification(workflow_id="w", name="w", generation=0, jobs=many,
                                      duration=None, finished=None, status_cmd="c")  # fmt: skip
    assert len(big["jobs"]) == JOBS_SHOWN and big["jobs_more"] == 7
    assert big["status"] == "SUCCEEDED" and big["event"] == "succeeded"
    assert workflow_outcome([S, C]) == "CANCELLED" and workflow_outcome([C, F]) == "FAILED"
    assert all_ended([S, F, C]) and not all_ended([S, None]) and not all_ended([JobStatus.RUNNING])
    slack = workflow_body_for("https://hooks.slack.com/services/T/B/X", note)
    assert slack["text"] == "Kinetic workflow x failed: 1 succeeded, 1 failed, 1 cancelled"
    assert "`b` FAILED (UserError)" in json.dumps(slack["blocks"])
    assert workflow_body_for("https://example.com/h", note) == note


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("name: w\njobs: [{name: a, command: x, notify: ['https://example.com/T0KEN']}]\n",
         "jobs[a].notify"),
        ("name: w\njobs: [{name: a, command: x, notify_on: [failed]}]\n", "jobs[a].notify_on"),
        ("name: w\ndefaults: {notify: ['https://example.com/T0KEN']}\n"
         "jobs: [{name: a, command: x}]\n", "defaults.notify"),
        ("name: w\nnotify: ['ftp://example.com/T0KEN']\njobs: [{name: a, command: x}]\n",
         "notify"),
        ("name: w\nnotify_on: [sometimes]\njobs: [{name: a, command: x}]\n", "notify_on"),
    ],
)  # fmt: skip
def test_notify_per_job_is_refused_before_anything_is_created(tmp_path, text, option):
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.workflow.run(text)
    assert info.value.option == option and "T0KEN" not in str(info.value)
    if option.startswith(("jobs", "defaults")):
        assert "top level" in str(info.value)
    store = open_store((tmp_path / "store").as_uri())
    assert store.list_children(layout.JOBS) == [] and store.list_children(layout.WORKFLOWS) == []


# -- workflows (real runners) ----------------------------------------------------------------
def _run_and_vanish(tmp_path: Path, text: str) -> str:
    """Submit the workflow from a caller process that is SIGKILLed as soon as it returns."""
    path, script = tmp_path / "wf.yaml", tmp_path / "caller.py"
    path.write_text(text)
    script.write_text(textwrap.dedent(CALLER))
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                         text=True, timeout=WAIT)  # fmt: skip
    assert out.returncode == -signal.SIGKILL, out.stderr
    return out.stdout.split()[0]


def test_one_summary_with_the_caller_gone_and_a_receiver_failing_twice(store_uri, tmp_path):
    receiver = Receiver(fail_first=2)
    try:
        text = TRIANGLE.format(url=receiver.url(), flag=tmp_path / "never")
        workflow_id = _run_and_vanish(tmp_path, text)
        wait_for(lambda: receiver.posts, WAIT, 0.5, "the workflow's summary")
        handle = kinetic.workflow.attach(workflow_id)
        _, path, note = receiver.posts[0]
        assert path == f"/hook/{TOKEN}" and receiver.refused == 2
        assert note["kind"] == "workflow" and note["workflow_id"] == workflow_id
        assert note["name"] == "tri" and note["generation"] == 0
        assert note["status"] == "SUCCEEDED" and note["event"] == "succeeded"
        assert note["counts"] == {"SUCCEEDED": 3} and note["total"] == 3
        assert [(j["name"], j["job_id"]) for j in note["jobs"]] == list(handle.record.jobs.items())
        assert note["duration_s"] >= 2
        assert (
            note["status_command"] == f"kinetic workflow status {workflow_id} --store {store_uri}"
        )
        records = wait_for(
            lambda: [r for r in handle.notifications() if r["outcome"] == "delivered"], 60,
            what="the summary's delivery record",
        )  # fmt: skip
        assert records[0]["host"] == url_host(receiver.url()) and records[0]["tries"] == 3
        time.sleep(3)  # the jobs never post on their own: one message for the workflow
        assert len(receiver.posts) == 1
        for job in handle.jobs().values():
            assert "notifications" not in job.state().extra
        shown = subprocess.run([sys.executable, "-m", "kinetic.cli", "workflow", "status",
                                workflow_id], capture_output=True, text=True)  # fmt: skip
        assert "notifications: 127.0.0.1" in shown.stdout and "delivered (3 tries)" in shown.stdout
        # The URL is kept on this machine only, never in the store (nor the stored file).
        assert TOKEN not in handle.record.to_json()
        for file in (tmp_path / "store").rglob("*") if store_uri.startswith("file:") else ():
            if file.is_file():
                assert TOKEN.encode() not in file.read_bytes(), file
        handle.cleanup()
        assert notify_keep.kept(store_uri, workflow_id) is None
    finally:
        receiver.close()


def test_a_failure_counts_the_skipped_jobs_and_a_retry_sends_a_second_summary(store_uri, tmp_path):
    receiver = Receiver()
    try:
        flag = tmp_path / "broken"
        flag.write_text("x")
        workflow_id = _run_and_vanish(tmp_path, TRIANGLE.format(url=receiver.url(), flag=flag)
                                      + WITH_D)  # fmt: skip
        wait_for(lambda: receiver.posts, WAIT, 0.5, "the failed workflow's summary")
        note = receiver.posts[0][2]
        assert note["status"] == "FAILED" and note["generation"] == 0
        assert note["counts"] == {"SUCCEEDED": 2, "FAILED": 1, "CANCELLED": 1}
        by_name = {j["name"]: j for j in note["jobs"]}
        assert by_name["b"]["status"] == "FAILED"
        assert (by_name["d"]["status"], by_name["d"]["reason"]) == (
            "CANCELLED", Reason.DEPENDENCY_FAILED)  # fmt: skip
        flag.unlink()
        handle = kinetic.workflow.attach(workflow_id)
        wait_for(lambda: handle.notifications() and handle.notifications()[0]["outcome"]
                 == "delivered", 60, what="the first summary's record")  # fmt: skip
        handle.retry()
        assert handle.record.generation == 1
        assert handle.wait(WAIT).phase == JobStatus.SUCCEEDED
        wait_for(lambda: len(receiver.posts) >= 2, WAIT, 0.5, "the retry's summary")
        again = receiver.posts[1][2]
        assert again["generation"] == 1 and again["status"] == "SUCCEEDED"
        assert again["counts"] == {"SUCCEEDED": 4}
        assert {j["name"]: j["job_id"] for j in again["jobs"]} == handle.record.jobs
        time.sleep(3)
        assert len(receiver.posts) == 2  # one per generation
        assert handle.notifications()[0]["outcome"] == "delivered"
        store = open_store(store_uri)
        assert all(store.exists(layout.workflow_summary_key(workflow_id, g)) for g in (0, 1))
    finally:
        receiver.close()


def test_the_config_default_and_notify_on(monkeypatch, tmp_path):
    receiver = Receiver()
    try:
        monkeypatch.setenv("KINETIC_NOTIFY", receiver.url())
        quiet = kinetic.workflow.run(
            "name: quiet\nnotify_on: [failed]\njobs: [{name: a, command: 'true'}]\n"
        )
        loud = kinetic.workflow.run("name: loud\njobs: [{name: a, command: 'true'}, "
                                    "{name: b, command: 'true', depends_on: [a]}]\n")  # fmt: skip
        assert quiet.wait(WAIT).phase == loud.wait(WAIT).phase == JobStatus.SUCCEEDED
        wait_for(lambda: receiver.posts, 60, what="the default's summary")
        time.sleep(3)
        assert [p[2].get("workflow_id") for p in receiver.posts] == [loud.workflow_id]
        assert quiet.notifications() == [] and quiet.record.notify_hosts
        shown = subprocess.run([sys.executable, "-m", "kinetic.cli", "workflow", "status",
                                quiet.workflow_id], capture_output=True, text=True)  # fmt: skip
        assert "notifications: none for this end (notify_on: failed)" in shown.stdout
        for job in loud.jobs().values():  # the default went to the workflow, not its jobs
            assert "notifications" not in job.state().extra
    finally:
        receiver.close()


# -- the operator's claim (pure parts; the cluster itself: tests/k8s) ------------------------
def _member(job_id: str, phase: str | None, members: dict[str, str], **status) -> dict:
    return {
        "metadata": {"name": job_id, "namespace": "ns"},
        "spec": {"store": "file:///s", "notify": {"hosts": ["example.com"]},
                 "workflow": {"id": "wf-w-1", "name": "w", "generation": 1, "members": members,
                              "started": "2026-12-01T10:00:00Z", "summary": True}},
        "status": {**({"phase": phase} if phase else {}), **status},
    }  # fmt: skip


def test_the_operator_claims_once_only_when_every_member_has_ended():
    from kinetic_operator.notifier import notify_due
    from kinetic_operator.workflow_notifier import WorkflowSummaries

    members = {"a": "a-1", "b": "b-1"}
    a = _member("a-1", "SUCCEEDED", members)
    b_running = _member("b-1", "RUNNING", members)
    b = _member("b-1", "FAILED", members, reason="UserError")
    assert not notify_due(b)  # a member never sends its own
    summaries = WorkflowSummaries()
    assert summaries.claim(a, {"b-1": b_running}.get) is None  # b has not ended
    assert summaries.claim(a, {}.get) is None  # b has no KineticJob (yet)
    claim = summaries.claim(b, {"a-1": a}.get)
    assert claim is not None
    note, records = claim
    assert note["status"] == "FAILED" and note["generation"] == 1
    assert note["counts"] == {"SUCCEEDED": 1, "FAILED": 1} and records[0]["outcome"] == "sending"
    assert summaries.claim(a, {"b-1": b}.get) is None  # the same process: claimed already
    # A restarted operator: the claim is in b's status. A finds it and leaves it; b, whose
    # records are all "sending" (the delivery was cut short), sends again (at least once).
    claimed = _member("b-1", "FAILED", members, workflowSummary={
        "generation": 1, "notifications": records})  # fmt: skip
    restarted = WorkflowSummaries()
    assert restarted.claim(a, {"b-1": claimed}.get) is None
    assert restarted.claim(claimed, {"a-1": a}.get) is not None
    delivered = [{"host": "example.com", "outcome": "delivered"}]
    done = _member("b-1", "FAILED", members,
                   workflowSummary={"generation": 1, "notifications": delivered})  # fmt: skip
    assert WorkflowSummaries().claim(done, {"a-1": a}.get) is None
    old = _member("b-1", "FAILED", members, workflowSummary={"generation": 0})  # an earlier run's
    assert WorkflowSummaries().claim(old, {"a-1": a}.get) is not None
