"""notify= on a batch (f.run_async_map): ONE summary when the batch ends, posted by its
detached driver with the caller gone, to real HTTP receivers; the items never post.

Kubernetes (the operator's batch driver posts) is tests/k8s/test_batch_notifications_k8s.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import batchfns
from helpers import wait_for
from notify_receiver import Receiver

import kinetic
from kinetic.store import layout, open_store
from kinetic.system import notify_keep
from kinetic.wire.batch_notification import (
    FAILED_INDEXES,
    batch_body_for,
    batch_status,
    build_batch_notification,
)
from kinetic.wire.notification import url_host

TESTS = Path(__file__).parent
WAIT = 240
TOKEN = "T0KEN-secret-part"  # in every receiver URL's path: must never leave this machine


# -- the summary (pure) -------------------------------------------------------------------
def _summary(**overrides):
    fields = dict(
        batch_id="sq-abc12345", function="batchfns.fail_if", total=100,
        counts={"SUCCEEDED": 60, "FAILED": 40}, failed=range(40), duration=12.5,
        finished="2026-12-01T10:00:00Z", status_cmd="kinetic batches status sq-abc12345",
        name="sq",
    )  # fmt: skip
    fields.update(overrides)
    return build_batch_notification(**fields)


def test_the_summary_counts_and_bounds_the_failed_indexes():
    note = _summary()
    assert note["kind"] == "batch" and note["status"] == "FAILED" and note["event"] == "failed"
    assert note["counts"] == {"SUCCEEDED": 60, "FAILED": 40} and note["total"] == 100
    assert note["failed_indexes"] == list(range(FAILED_INDEXES))
    assert note["failed_more"] == 40 - FAILED_INDEXES and note["duration_s"] == 12.5
    assert batch_status({"SUCCEEDED": 3}) == "SUCCEEDED"
    assert batch_status({"SUCCEEDED": 1, "CANCELLED": 2}, "Cancelled") == "CANCELLED"
    assert batch_status({"SUCCEEDED": 1, "CANCELLED": 2}, "BatchStopped") == "FAILED"
    slack = batch_body_for("https://hooks.slack.com/services/T/B/X", note)
    assert "60 succeeded, 40 failed" in slack["text"] and "blocks" in slack
    assert "and 20 more" in json.dumps(slack["blocks"])
    assert batch_body_for("https://example.com/h", note) == note


def test_kept_urls_are_private_to_this_user(tmp_path):
    notify_keep.keep("file:///s", "job-1", ["https://example.com/a/secret"])
    assert notify_keep.kept("file:///s", "job-1") == ("https://example.com/a/secret",)
    assert notify_keep.kept("file:///other", "job-1") is None
    path = next(notify_keep.notify_home().iterdir())
    assert path.stat().st_mode & 0o777 == 0o600
    assert notify_keep.notify_home().stat().st_mode & 0o777 == 0o700
    notify_keep.forget("file:///s", "job-1")
    assert notify_keep.kept("file:///s", "job-1") is None


# -- batches (a real detached driver, real runners) ------------------------------------------
CALLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import batchfns, kinetic
f = kinetic.run(notify=[{url!r}])(batchfns.fail_if)
batch = f.run_async_map([(i, {bad!r}) for i in range({n})], max_concurrent=3, name="sumup")
print(batch.batch_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_one_summary_with_the_caller_gone_and_a_receiver_failing_twice(store_uri, tmp_path):
    receiver = Receiver(fail_first=2)
    try:
        script = tmp_path / "caller.py"
        script.write_text(textwrap.dedent(CALLER.format(
            tests=str(TESTS), url=receiver.url(), n=6, bad=[1, 4])))  # fmt: skip
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=WAIT)  # fmt: skip
        assert out.returncode == -signal.SIGKILL, out.stderr
        batch_id = out.stdout.split()[0]
        store = open_store(store_uri)
        wait_for(lambda: receiver.posts, WAIT, 0.5, "the batch's summary")
        ended = json.loads(store.read_bytes(layout.batch_done_key(batch_id)))
        assert ended["finished"]
        _, path, note = receiver.posts[0]
        assert path == f"/hook/{TOKEN}" and receiver.refused == 2
        assert note["kind"] == "batch" and note["batch_id"] == batch_id
        assert note["name"] == "sumup" and note["function"] == "batchfns.fail_if"
        assert note["status"] == "FAILED" and note["total"] == 6
        assert note["counts"] == {"SUCCEEDED": 4, "FAILED": 2}
        assert note["failed_indexes"] == [1, 4] and note["duration_s"] > 0
        assert note["status_command"] == f"kinetic batches status {batch_id} --store {store_uri}"
        batch = kinetic.attach_batch(batch_id)
        records = wait_for(
            lambda: [r for r in batch.notifications() if r["outcome"] == "delivered"], 60,
            what="the summary's delivery record",
        )  # fmt: skip
        assert records[0]["host"] == url_host(receiver.url()) and records[0]["tries"] == 3
        time.sleep(3)  # the items never post on their own: one message for the batch
        assert len(receiver.posts) == 1
        for job in batch.jobs:
            assert job.spec.get("notify_hosts") in ([], None)
            assert "notifications" not in job.state().extra
        shown = subprocess.run([sys.executable, "-m", "kinetic.cli", "batches", "status",
                                batch_id], capture_output=True, text=True)  # fmt: skip
        assert "notifications: 127.0.0.1" in shown.stdout and "delivered (3 tries)" in shown.stdout
        # The URL is kept on this machine only (0600), never in the store.
        for file in (tmp_path / "store").rglob("*") if store_uri.startswith("file:") else ():
            if file.is_file():
                assert TOKEN.encode() not in file.read_bytes(), file
        assert TOKEN not in batch.record.to_json()
        batch.cleanup()
        assert notify_keep.kept(store_uri, batch_id) is None
    finally:
        receiver.close()


def test_notify_on_and_a_succeeded_batch(tmp_path):
    receiver = Receiver()
    try:
        f = kinetic.run()(batchfns.square)
        quiet = f.run_async_map(range(3), notify=[receiver.url()], notify_on=["failed"])
        loud = f.run_async_map(range(4), notify=[receiver.url()])
        assert loud.wait(timeout=WAIT) == {"SUCCEEDED": 4}
        assert quiet.wait(timeout=WAIT) == {"SUCCEEDED": 3}
        wait_for(lambda: receiver.posts, 60, what="the succeeded batch's summary")
        time.sleep(2)
        assert len(receiver.posts) == 1
        note = receiver.posts[0][2]
        assert note["batch_id"] == loud.batch_id and note["event"] == "succeeded"
        assert note["counts"] == {"SUCCEEDED": 4} and note["failed_indexes"] == []
        assert quiet.notifications() == []
    finally:
        receiver.close()


def test_the_config_default_notifies_the_batch_not_its_items(monkeypatch):
    receiver = Receiver()
    try:
        monkeypatch.setenv("KINETIC_NOTIFY", receiver.url())
        f = kinetic.run()(batchfns.square)
        batch = f.run_async_map(range(3))
        assert batch.wait(timeout=WAIT) == {"SUCCEEDED": 3}
        wait_for(lambda: receiver.posts, 60, what="the summary")
        time.sleep(3)
        assert [p[2].get("kind") for p in receiver.posts] == ["batch"]
    finally:
        receiver.close()
