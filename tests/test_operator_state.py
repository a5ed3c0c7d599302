"""The operator's per-job state (kinetic_operator/state.py) lives and dies with the job: a
long-lived operator keeps nothing — no lock, no timer, no report — for a deleted job.

The Controller runs here as in the operator, over kopf-like indexes (plain dicts of lists),
against an API server address where nothing listens: every write fails at the connection,
so a sync leaves its timers behind (the job's scheduled start, the failed write's retry)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from chart_support import kineticjob
from helpers import wait_for
from kinetic_operator import progress_server as ps
from kinetic_operator.cluster import Cluster
from kinetic_operator.controller import Controller
from kinetic_operator.indexes import Indexes
from kinetic_operator.memory import Trimmer, glibc_malloc_trim
from kinetic_operator.operator_settings import Settings
from kinetic_operator.state import JobRegistry
from kubernetes import client

KEY = ("ml", "train-abc12345")


def nowhere() -> client.ApiClient:
    """A client of an API server that refuses connections (a port just closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    config.retries = 0
    return client.ApiClient(config)


def controller(kjs: dict) -> Controller:
    indexes = Indexes(kineticjobs=kjs, jobs={}, pods={})
    return Controller(Settings(memory_trim_delay=0.05), Cluster(nowhere()), indexes)


def scheduled_job() -> dict:
    start = datetime.now(UTC) + timedelta(hours=1)
    return kineticjob(start_at=start)


def test_a_deleted_job_leaves_nothing_behind():
    kj = scheduled_job()
    kjs = {KEY: [kj]}
    op = controller(kjs)
    op.sync(*KEY)  # decides to wait for startAt; its status write fails
    state = op.jobs.get(KEY)
    assert state is not None and state.uid == "uid-1"
    assert state.wake is not None and state.wake.is_alive()  # the scheduled start
    assert state.retry is not None and state.retry.is_alive()  # the failed write
    assert state.failure_delay == 1.0
    timers = state.timers()

    # kopf drops the KineticJob from its index, then calls the handler with DELETED.
    del kjs[KEY]
    op.job_deleted(KEY, "uid-1")
    assert len(op.jobs) == 0 and KEY not in op.jobs
    for timer in timers:
        timer.join(1)
        assert not timer.is_alive()  # cancelled: nothing will run for the deleted job
    assert state.closed
    wait_for(lambda: op.trimmer.trims == 1, timeout=5, what="the freed memory given back")

    # Events after the deletion (its pods going, garbage-collected) keep nothing either.
    pod = {"metadata": {"name": "train-abc12345-x", "labels": {"kinetic.dev/attempt": "1"}}}
    op.sync(*KEY, deleted_pod=pod)
    assert len(op.jobs) == 0
    # Nor does a late progress report: it is kept only until its write finds the job gone.
    op.report(KEY, {"fraction": 0.5})
    wait_for(lambda: len(op.jobs) == 0, timeout=5, what="the late report's state to go")


def test_any_sync_that_finds_the_job_gone_releases_it():
    """A deletion the watch did not report (a relist after a long disconnect) is noticed by
    the next event for the job: its state goes then."""
    kjs = {KEY: [scheduled_job()]}
    op = controller(kjs)
    op.sync(*KEY)
    assert KEY in op.jobs
    del kjs[KEY]
    op.sync(*KEY)  # e.g. its Job's deletion, cascaded by the garbage collector
    assert len(op.jobs) == 0


def test_a_new_job_of_the_same_name_starts_afresh():
    registry = JobRegistry()
    with registry.hold(KEY) as state:
        state.adopt("uid-1")
        state.written["phase"] = "RUNNING"
        state.created.add("train-abc12345")
    registry.release(KEY, uid="uid-2")  # another object's deletion: not this one's state
    assert KEY in registry
    with registry.hold(KEY) as state:
        state.adopt("uid-2")  # recreated before the old one's deletion reached us
        assert state.written == {} and state.created == set()


def test_a_sync_waiting_for_a_released_state_takes_a_new_one():
    registry = JobRegistry()
    got = []
    with registry.hold(KEY) as first:

        def waiter() -> None:
            with registry.hold(KEY) as state:
                got.append(state)

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.1)  # the waiter now waits for the lock we hold
        registry.discard(first)  # as a sync that found the KineticJob gone does
    thread.join(5)
    assert got and got[0] is not first and not got[0].closed


def test_token_reviews_go_with_their_pod_or_their_time():
    cache = ps.ReviewCache()
    cache.SWEEP_EVERY = 0.0  # sweep on every insert
    cache.put("a", "pod-1", time.time() + 300)
    cache.put("b", "pod-2", time.time() + 300)
    cache.forget_pod("pod-1")
    assert cache.get("a") is None and cache.get("b") == "pod-2"
    cache.put("c", "pod-3", time.time() - 1)  # expired: never served, swept with the next
    cache.put("d", "pod-4", time.time() + 300)
    assert len(cache) == 2 and cache.get("c") is None


def test_memory_is_trimmed_once_after_a_burst_of_deletions():
    calls = []
    trimmer = Trimmer(0.1, trim=lambda pad: calls.append(pad) or 1)
    threads = [threading.Thread(target=trimmer.soon) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: calls == [0], timeout=5, what="one trim")
    time.sleep(0.2)
    assert calls == [0]
    trimmer.soon()  # a later deletion: another trim
    wait_for(lambda: calls == [0, 0], timeout=5, what="the next trim")
    off = Trimmer(0, trim=lambda pad: calls.append(pad) or 1)
    off.soon()
    time.sleep(0.1)
    assert len(calls) == 2 and off.trims == 0


def test_glibc_trims_here():
    trim = glibc_malloc_trim()
    if trim is None:
        pytest.skip("no glibc here: the operator does not trim (memory.py)")
    assert trim(0) in (0, 1)
