"""A fan-in job on the cluster: its status is written once per upstream end (its waiting
message names what is left), not on every sync that each upstream's events cause. Counted
on the API server's own watch of the fan-in's KineticJob: every write that changes an
object is one MODIFIED event (a write that changes nothing is never sent: status_patch
writes only the keys that differ from what the operator last wrote)."""

from __future__ import annotations

import threading

import pipelinefns
import pytest
from kubernetes import client, watch

import kinetic
from kinetic import JobStatus
from kinetic.k8s.names import GROUP, PLURAL, VERSION
from kinetic.model.reasons import Reason

pytestmark = pytest.mark.k8s

WAIT = 300
UPSTREAMS = 4


def test_a_fan_in_is_patched_once_per_upstream_end(kube, namespace):
    events: list[dict] = []
    stop = threading.Event()
    api = client.CustomObjectsApi(kube)
    ready = threading.Event()

    def record() -> None:  # every KineticJob event of the namespace, in order
        w = watch.Watch()
        ready.set()
        for event in w.stream(api.list_namespaced_custom_object, GROUP, VERSION, namespace,
                              PLURAL, timeout_seconds=WAIT):  # fmt: skip
            events.append({"type": event["type"], **event["object"]})
            if stop.is_set():
                w.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    ready.wait(30)
    slow = kinetic.run()(pipelinefns.slow)
    # Upstreams that end a few seconds apart, each with several events of its own
    # (its Job, its pod's phases, its status writes): the fan-in's syncs follow each.
    ups = [slow.run_async(i, 6 + 5 * i) for i in range(UPSTREAMS)]
    fan_in = kinetic.run()(pipelinefns.echo).run_async(ups)
    assert fan_in.result(timeout=WAIT, cleanup=False) == list(range(UPSTREAMS))
    stop.set()
    kinetic.run()(pipelinefns.echo).run_async("wake the watch").result(timeout=WAIT)
    watcher.join(60)
    mine = [e for e in events if e["metadata"]["name"] == fan_in.job_id]
    statuses = [e.get("status") or {} for e in mine if e["type"] == "MODIFIED"]
    held = [s for s in statuses if s.get("reason") == Reason.WAITING_FOR_DEPENDENCIES]
    ended = {up.job_id for up in ups}
    # One write when first held, one when each upstream but the last ends (the last one's
    # end creates the Job instead): never more, however many syncs each upstream's events
    # caused; fewer only if upstreams ended before the fan-in was first seen.
    assert 1 <= len(held) <= UPSTREAMS, [h.get("message") for h in held]
    messages = [h["message"] for h in held]
    assert len(set(messages)) == len(messages)  # no write repeats the one before
    assert messages[-1] == f"waiting for {ups[-1].job_id}"
    upstream_events = sum(1 for e in events if e["metadata"]["name"] in ended)
    # Each upstream's syncs did come, several times: created, running, ended at least (a
    # new job's first status write settles, status_settle.py: no separate PENDING write).
    assert upstream_events >= 3 * UPSTREAMS
    assert fan_in.state().status == JobStatus.SUCCEEDED
    print(f"fan-in of {UPSTREAMS}: {len(held)} status writes while held, "
          f"{upstream_events} events of its upstreams")  # fmt: skip
