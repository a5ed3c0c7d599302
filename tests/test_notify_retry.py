"""A retry carries its original's notify URLs (kinetic.client.notify_carry): locally from
this machine's private copy (kinetic.system.notify_keep), with real runners, a real HTTP
receiver and both stores; when the copy is gone the retry says so. Kubernetes is
tests/k8s/test_notify_retry_k8s.py."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from helpers import wait_for
from notify_receiver import Receiver

import kinetic
from kinetic import JobStatus
from kinetic.client.notify_carry import NotifyNotCarried
from kinetic.system import notify_keep
from kinetic.wire.notification import url_host

TOKEN = "T0KEN-secret-part"
FAILS = ["sh", "-c", "echo failing; exit 3"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kinetic.cli", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def test_the_retry_posts_to_the_originals_urls(store_uri, receiver):
    first = kinetic.submit(FAILS, name="carry", notify=[receiver.url()], notify_on=["failed"])
    assert first.wait(60).status == JobStatus.FAILED
    wait_for(lambda: receiver.posts, 60, what="the original's notification")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotifyNotCarried)  # carried: no note
        second = first.retry()
    assert second.spec["notify_hosts"] == [url_host(receiver.url())]
    assert second.spec["notify_on"] == ["failed"] and TOKEN not in second.to_json()
    assert second.wait(60).status == JobStatus.FAILED
    wait_for(lambda: len(receiver.posts) == 2, 60, what="the retry's notification")
    _, path, note = receiver.posts[1]
    assert path == f"/hook/{TOKEN}" and note["job_id"] == second.job_id
    records = wait_for(lambda: [r for r in second.state().extra.get("notifications", [])
                                if r["outcome"] == "delivered"], 60, what="the record")  # fmt: skip
    assert records[0]["host"] == url_host(receiver.url())
    # Given again, notify= replaces them (and nothing is said).
    third = second.retry(notify=[])
    assert third.spec["notify_hosts"] == []
    third.wait(60)
    second.cleanup()  # cleanup forgets the kept copy
    assert notify_keep.kept(store_uri, second.job_id) is None


def test_a_retry_without_the_urls_says_so(receiver):
    first = kinetic.submit(FAILS, name="lost", notify=[receiver.url()])
    assert first.wait(60).status == JobStatus.FAILED
    notify_keep.forget(first.store, first.job_id)  # as if submitted from another machine
    with pytest.warns(NotifyNotCarried, match=r"notify URLs of .*127\.0\.0\.1.* not carried"):
        second = first.retry()
    assert second.spec["notify_hosts"] == []  # no config default here
    out = cli("jobs", "retry", first.job_id, "-o", "json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["notes"] and "not carried" in shown["notes"][0]
    assert "note: the notify URLs of" in out.stderr and TOKEN not in out.stderr + out.stdout
    second.wait(60)


def test_the_cli_retry_shows_the_hosts_only(receiver):
    first = kinetic.submit(FAILS, notify=[receiver.url()], notify_on=["succeeded"])
    assert first.wait(60).status == JobStatus.FAILED
    out = cli("jobs", "retry", first.job_id)
    assert out.returncode == 0, out.stderr
    assert f"notify: {url_host(receiver.url())}" in out.stdout
    assert TOKEN not in out.stdout + out.stderr
