"""A new job's burst of PENDING changes costs one status write, not three
(kinetic_operator/status_settle.py), and the calls put off for it run on a few shared
threads (kinetic_operator/deferred_calls.py), cancelled with the job."""

from __future__ import annotations

import threading
import time

from helpers import wait_for
from kinetic_operator.deferred_calls import DeferredCalls
from kinetic_operator.status_settle import settle_delay

PENDING = {"phase": "PENDING", "jobName": "j", "attempts": 1}


def test_every_change_of_phase_and_a_retrys_new_attempt_go_at_once():
    assert settle_delay(PENDING, {"phase": "RUNNING"}, 0.0, 1.0) == 0
    assert settle_delay(PENDING, {"phase": "FAILED", "reason": "Lost"}, 0.0, 1.0) == 0
    running = {**PENDING, "phase": "RUNNING"}
    assert settle_delay(running, {"progressText": "50%"}, 0.0, 1.0) == 0  # not PENDING
    # Preempted by Kueue: back to PENDING is a change of phase too.
    assert settle_delay(running, {"phase": "PENDING", "reason": "Queued"}, 0.0, 1.0) == 0
    # A retry's next attempt (its Job, its count) is recorded at once.
    assert settle_delay(PENDING, {"jobName": "j-2", "attempts": 2}, 0.0, 1.0) == 0
    retry = {"phase": "PENDING", "previousAttempts": [{"attempt": 1}], "retryAt": "…"}
    assert settle_delay(PENDING, retry, 0.0, 1.0) == 0
    # ... even when the first attempt failed before its first write (a pod that ran and
    # failed within the settle time): the record of the failure is not put off.
    assert settle_delay({}, {**retry, "attempts": 1, "jobName": "j"}, 0.25, 1.0) == 0


def test_the_first_write_settles_after_the_jobs_create_and_not_otherwise():
    first = {"phase": "PENDING", "jobName": "j", "attempts": 1, "message": "waiting"}
    # Its Job created 0.25 s ago by this process: the pod's first events are coming.
    assert settle_delay({}, first, 0.25, 1.0) == 0.75
    # No Job created here (held for a dependency, a scheduled start, an adopted Job): at once.
    assert settle_delay({}, {"phase": "PENDING", "reason": "Scheduled"}, float("inf"), 1.0) == 0
    assert settle_delay({}, first, float("inf"), 1.0) == 0


def test_a_pending_job_that_stays_pending_waits_for_the_interval():
    change = {"podName": "j-abc", "message": None}
    assert settle_delay(PENDING, change, 0.25, 1.0) == 0.75
    assert settle_delay(PENDING, {"reason": "Unschedulable"}, 0.0, 1.0) == 1.0
    assert settle_delay(PENDING, change, 1.5, 1.0) == 0  # long enough since the last write
    assert settle_delay(PENDING, change, float("inf"), 1.0) == 0  # never written here


def test_deferred_calls_run_in_time_order_on_a_few_threads():
    calls = DeferredCalls(workers=2)
    ran: list[tuple[str, str]] = []
    t0 = time.monotonic()
    for name, delay in [("c", 0.3), ("a", 0.1), ("b", 0.2)]:
        calls.call_later(delay, lambda n: ran.append((n, threading.current_thread().name)), name)
    wait_for(lambda: len(ran) == 3, timeout=10, what="the three calls")
    assert time.monotonic() - t0 >= 0.3
    assert [n for n, _ in ran] == ["a", "b", "c"]
    assert all(t.startswith("kinetic-deferred") for _, t in ran)
    many = [calls.call_later(0.05, ran.append, ("x", "")) for _ in range(200)]
    wait_for(lambda: len(ran) == 203, timeout=10, what="a burst of calls")
    assert not any(call.pending for call in many)
    workers = [t for t in threading.enumerate() if t.name.startswith("kinetic-deferred_")]
    assert len(workers) <= 2  # a burst makes no burst of threads
    calls.stop()


def test_a_cancelled_call_never_runs_and_stop_cancels_the_rest():
    calls = DeferredCalls()
    ran: list[int] = []
    first = calls.call_later(0.1, ran.append, 1)
    later = calls.call_later(30, ran.append, 2)
    first.cancel()
    assert not first.pending and later.pending and len(calls) == 1
    time.sleep(0.4)
    calls.stop()
    assert ran == [] and not later.pending and len(calls) == 0
    assert not calls.call_later(0, ran.append, 3).pending  # stopped: nothing more runs
    time.sleep(0.1)
    assert ran == []
