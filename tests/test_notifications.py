"""notify=: a job's end posted to URLs by the runner (local), with real HTTP receivers.

Kubernetes (the operator posts) is tests/k8s/test_notifications_k8s.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jobfns
import pytest
from helpers import wait_for
from notify_receiver import Receiver, Silent

import kinetic
from kinetic import JobStatus
from kinetic.model.errors import SpecError
from kinetic.spec.job_spec import JobSpec
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.wire.notification import (
    body_for,
    build_notification,
    describe_deliveries,
    log_tail,
    url_host,
    wanted,
)
from kinetic.wire.webhook import deliver

PY = sys.executable
TOKEN = "T0KEN-secret-part"  # in every receiver URL's path: must never leave the runner


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _note(**overrides):
    fields = dict(
        job_id="train-abc12345", function="mod.train", status="FAILED", reason="UserError",
        message="ValueError: bad", duration=83.25, attempts=2, finished="2026-12-01T10:00:00Z",
        log_lines=["epoch 1", "Traceback…"], logs_cmd="kinetic jobs logs train-abc12345",
        name="train",
    )  # fmt: skip
    fields.update(overrides)
    return build_notification(**fields)


# -- the message and the options (pure) ---------------------------------------------------
def test_the_message_has_what_a_reader_needs():
    note = _note()
    assert note["event"] == "failed" and note["status"] == "FAILED"
    assert note["duration_s"] == 83.25 and note["attempts"] == 2
    assert note["log_tail"] == ["epoch 1", "Traceback…"]
    assert note["logs_command"] == "kinetic jobs logs train-abc12345"
    assert json.loads(json.dumps(note)) == note
    assert log_tail("\n".join(f"line {i}" for i in range(100)) + "\n\n") == [
        f"line {i}" for i in range(80, 100)
    ]
    assert len(log_tail("x" * 5000)[0]) == 300


def test_a_slack_webhook_gets_slacks_format_and_others_the_message():
    note = _note()
    slack = body_for("https://hooks.slack.com/services/T0/B0/XYZ", note)
    assert set(slack) == {"text", "blocks"}
    assert "train" in slack["text"] and "failed" in slack["text"] and "83.2 s" in slack["text"]
    shown = json.dumps(slack["blocks"])
    assert "ValueError: bad" in shown and "epoch 1" in shown and "kinetic jobs logs" in shown
    assert body_for("https://example.com/hook", note) == note


def test_hosts_only_and_events():
    assert url_host("https://hooks.slack.com/services/T0/B0/XYZ?x=1") == "hooks.slack.com"
    assert url_host("http://127.0.0.1:8080/a/b") == "127.0.0.1:8080"
    assert wanted(None, "CANCELLED") and not wanted(("failed",), "SUCCEEDED")
    assert not wanted(None, "RUNNING")
    line = describe_deliveries(
        [{"host": "a.io", "outcome": "delivered", "tries": 3},
         {"host": "b.io", "outcome": "failed", "tries": 4, "error": "timed out"}]
    )  # fmt: skip
    assert line == "a.io: delivered (3 tries); b.io: failed (4 tries, timed out)"


def test_the_options_are_checked_and_urls_never_shown():
    spec = JobSpec(notify=f"https://hooks.example.com/{TOKEN}", notify_on=["succeeded", "failed"])
    assert spec.notify == (f"https://hooks.example.com/{TOKEN}",)
    assert spec.notify_on == ("failed", "succeeded")
    data = spec.to_dict()
    assert data["notify_hosts"] == ["hooks.example.com"] and "notify" not in data
    assert TOKEN not in json.dumps(data) and TOKEN not in repr(spec)
    assert spec.runner_secrets() == {NOTIFY_SECRET_KEY: f"https://hooks.example.com/{TOKEN}"}
    assert JobSpec.from_dict(data).notify_on == ("failed", "succeeded")
    for bad in ([f"ftp://files.example.com/{TOKEN}"], [f"https:///{TOKEN}"], [3], "x" * 3):
        with pytest.raises(SpecError) as err:
            JobSpec(notify=bad)
        assert TOKEN not in str(err.value) and "notify" in str(err.value)
    with pytest.raises(SpecError, match="notify_on"):
        JobSpec(notify_on=["finished"])
    with pytest.raises(SpecError, match="notify_on"):
        JobSpec(notify_on=[])


def test_the_config_file_gives_a_default(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'notify = ["https://hooks.example.com/{TOKEN}"]\n')
    monkeypatch.setenv("KINETIC_CONFIG", str(config))
    assert JobSpec().resolved().notify == (f"https://hooks.example.com/{TOKEN}",)
    assert JobSpec(notify=[]).resolved().notify == ()  # an explicit "none" wins
    monkeypatch.setenv("KINETIC_NOTIFY", "https://a.example.com/x,https://b.example.com/y")
    assert len(JobSpec().resolved().notify) == 2
    out = subprocess.run([PY, "-m", "kinetic.cli", "config"], capture_output=True, text=True)
    assert out.returncode == 0 and "a.example.com/…" in out.stdout
    assert "/x" not in out.stdout.replace("a.example.com/…", "")


# -- delivery (real HTTP) ----------------------------------------------------------------------
def test_delivery_retries_with_backoff_then_succeeds():
    r = Receiver(fail_first=2)
    try:
        result = deliver(r.url(), {"a": 1}, backoff=0.05)
        assert result.outcome == "delivered" and result.tries == 3 and result.code == 200
        assert r.posts[0][1] == f"/hook/{TOKEN}" and r.posts[0][2] == {"a": 1}
        assert r.refused == 2
    finally:
        r.close()


def test_delivery_gives_up_bounded_and_never_names_the_url():
    silent = Silent()
    try:
        started = time.monotonic()
        result = deliver(silent.url(), {"a": 1}, tries=2, backoff=0.1, timeout=0.5)
        assert time.monotonic() - started < 5
        assert result.outcome == "failed" and result.tries == 2 and result.error
        assert "never" not in json.dumps(result.to_dict())  # the path stays secret
    finally:
        silent.close()
    closed = deliver("http://127.0.0.1:9/x", {}, tries=2, backoff=0.01, timeout=1)
    assert closed.outcome == "failed" and closed.host == "127.0.0.1:9"


# -- jobs (real runners) ---------------------------------------------------------------------
def test_a_failed_job_is_posted_with_its_record(store_uri, receiver):
    job = kinetic.run(notify=[receiver.url()], name="notify-me")(jobfns.fail_with).run_async("boom")
    with pytest.raises(Exception, match="boom"):
        job.result(timeout=120, cleanup=False)
    ended = time.monotonic()
    wait_for(lambda: receiver.posts, 60, what="the notification")
    arrived, path, note = receiver.posts[0]
    assert path == f"/hook/{TOKEN}"
    assert note["job_id"] == job.job_id and note["name"] == "notify-me"
    assert note["function"] == "jobfns.fail_with" and note["status"] == "FAILED"
    assert note["reason"] == "UserError" and "boom" in note["message"]
    assert note["attempts"] == 1 and note["duration_s"] >= 0
    assert any("CustomError: boom" in line for line in note["log_tail"])
    assert note["logs_command"] == f"kinetic jobs logs {job.job_id} --store {store_uri}"
    assert arrived - ended < 30
    state = wait_for(
        lambda: (s := job.state()).extra.get("notifications", [{}])[0].get("outcome")
        == "delivered" and s, 60, what="the delivery record",
    )  # fmt: skip
    assert state.status == JobStatus.FAILED and state.reason == "UserError"
    assert state.extra["notifications"][0]["host"] == url_host(receiver.url())
    assert TOKEN not in job.to_json() and TOKEN not in json.dumps(state.to_dict())
    assert len(receiver.posts) == 1


def test_the_client_is_gone_before_the_job_ends_and_the_receiver_fails_twice(tmp_path):
    receiver = Receiver(fail_first=2)
    url_file = tmp_path / "url.txt"
    url_file.write_text(receiver.url())  # the job prints it: masked
    try:
        out = subprocess.run(
            [PY, "-m", "kinetic.cli", "jobs", "submit", "--notify", receiver.url(),
             "--notify-on", "failed", "--", PY, "-c",
             f"import time; time.sleep(3); print('url', open({str(url_file)!r}).read()); "
             "raise SystemExit(3)"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        job_id = out.stdout.strip()  # the submitting process has exited: the job goes on
        wait_for(lambda: receiver.posts, 90, what="the notification")
        note = receiver.posts[0][2]
        assert note["job_id"] == job_id and note["status"] == "FAILED"
        assert receiver.refused == 2
        shown = wait_for(
            lambda: "delivered (3 tries)" in (s := _cli("jobs", "status", job_id)) and s, 60,
            what="the delivery in status",
        )  # fmt: skip
        assert "127.0.0.1" in shown and TOKEN not in shown
        logs = _cli("jobs", "logs", job_id)
        assert "url ********" in logs  # a URL the job prints is masked like a secret
        # Nowhere on disk (the store, the runner's stderr and session files) but the private
        # copy kept on this machine for a retry (kinetic.system.notify_keep: 0600).
        kept = tmp_path / "kinetic-home" / "notify"
        for root in (tmp_path / "store", tmp_path / "kinetic-home"):
            for path in root.rglob("*"):
                if path.is_file() and path != url_file and path.parent != kept:
                    assert TOKEN.encode() not in path.read_bytes(), path
        (copy,) = kept.iterdir()
        assert copy.name.startswith(job_id) and copy.stat().st_mode & 0o777 == 0o600
    finally:
        receiver.close()


def test_a_url_that_never_answers_leaves_the_job_alone(receiver):
    silent = Silent()
    try:
        job = kinetic.run(notify=[silent.url(), receiver.url()])(jobfns.add).run_async(2, 3)
        assert job.result(timeout=120, cleanup=False) == 5
        state = job.state()
        assert state.status == JobStatus.SUCCEEDED
        # The terminal record came first; the answering URL is posted at once.
        wait_for(lambda: receiver.posts, 30, what="the answering receiver")
        records = wait_for(
            lambda: [r for r in job.state().extra.get("notifications", [])
                     if r["outcome"] != "sending"],
            120, what="the outcomes",
        )  # fmt: skip
        by_host = {r["host"]: r for r in records}
        assert by_host[url_host(silent.url())]["outcome"] == "failed"
        assert by_host[url_host(silent.url())]["tries"] == 4
        assert by_host[url_host(receiver.url())]["outcome"] == "delivered"
        assert job.state().status == JobStatus.SUCCEEDED
    finally:
        silent.close()


def test_notify_on_filters_the_ends(receiver):
    job = kinetic.run(notify=[receiver.url()], notify_on=["failed"])(jobfns.add).run_async(1, 1)
    assert job.result(timeout=120, cleanup=False) == 2
    time.sleep(2)
    assert receiver.posts == [] and "notifications" not in job.state().extra


def _cli(*args: str) -> str:
    out = subprocess.run([PY, "-m", "kinetic.cli", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_cancelled_job_is_posted(receiver):
    job = kinetic.run(notify=[receiver.url()])(jobfns.sleeper).run_async(60)
    wait_for(lambda: job.status() == JobStatus.RUNNING, 60, what="the job to run")
    job.cancel()
    wait_for(lambda: receiver.posts, 90, what="the notification")
    note = receiver.posts[0][2]
    assert note["event"] == "cancelled" and note["status"] == "CANCELLED"


def test_the_operator_posts_each_end_once_and_again_after_a_restart():
    """notify_due (the operator's decision, pure): an ended job with notify hosts and no
    outcome yet; ``sending`` records left by an operator that stopped count as not done."""
    from kinetic_operator.notifier import message_of, notify_due, sending

    kj = {"metadata": {"name": "j-1", "namespace": "ns"},
          "spec": {"function": "m.f", "store": "gs://b/p",
                   "notify": {"hosts": ["hooks.slack.com"], "on": ["failed"]}},
          "status": {"phase": "FAILED", "reason": "UserError", "attempts": 2,
                     "startTime": "2030-01-01T00:00:00Z",
                     "completionTime": "2030-01-01T00:01:30Z"}}  # fmt: skip
    assert notify_due(kj)
    assert sending(kj) == [{"host": "hooks.slack.com", "outcome": "sending", "tries": 0}]
    kj["status"]["notifications"] = sending(kj)
    assert notify_due(kj)  # the operator's in-memory flag stops a second thread meanwhile
    kj["status"]["notifications"] = [{"host": "hooks.slack.com", "outcome": "delivered"}]
    assert not notify_due(kj)
    for phase in ("RUNNING", "PENDING", "SUCCEEDED"):  # not ended, or not wanted
        assert not notify_due({**kj, "status": {"phase": phase}})
    assert not notify_due({**kj, "spec": {"function": "m.f"}, "status": {"phase": "FAILED"}})
    note = message_of(kj, ["last line"])
    assert note["duration_s"] == 90 and note["attempts"] == 2 and note["log_tail"] == ["last line"]
    assert note["logs_command"] == "kinetic jobs logs j-1 --store gs://b/p"
