"""Kueue's own word on a queued Job (kinetic.k8s.kueue_workload): its Workload's message and
its queue position, in the job's Queued message; the Job's own condition when no Workload
is readable.

No real Workload dump is in ../shared/k8s-objects (SOURCES.md lists Jobs and Pods only): the
Workloads here are built with the fields and the messages Kueue writes (its own
integration tests' conditions — QuotaReserved False/Pending "couldn't assign flavors to pod
set main: …", Admitted, Evicted/Preempted — the ``kueue.x-k8s.io/job-uid`` label and owner
reference on a Job's Workload, and the visibility API's ``positionInLocalQueue`` /
``positionInClusterQueue``). The real suspended Job (kueue#2391) is the Job side.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from kinetic_operator.reconcile import derive_status
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))
    from kinetic_operator.reconcile import derive_status
from kinetic_operator.decisions import Action, status_patch
from test_kueue import _job, _kj, _suspended
from test_reconcile import NOW, load

from kinetic.k8s.kueue_workload import (
    JOB_UID_LABEL,
    KueueView,
    kueue_view,
    position_of,
    workload_message,
    workload_of,
)

NO_QUOTA = ("couldn't assign flavors to pod set main: insufficient unused quota for "
            "nvidia.com/gpu in flavor l4, 1 more needed")  # fmt: skip


def workload(job_uid: str, *conditions: dict, name: str = "job-train-abc12345-1f2e3",
             created: str = "2029-12-31T23:40:00Z") -> dict:  # fmt: skip
    """A Workload as Kueue writes it for a batch/v1 Job."""
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "Workload",
        "metadata": {
            "name": name, "namespace": "team-a", "creationTimestamp": created,
            "labels": {JOB_UID_LABEL: job_uid},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "train",
                                 "uid": job_uid, "controller": True}],
        },
        "spec": {"queueName": "team-a", "active": True,
                 "podSets": [{"name": "main", "count": 1, "template": {}}]},
        "status": {"conditions": list(conditions)},
    }  # fmt: skip


def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2029-12-31T23:41:00Z"}  # fmt: skip


def pending(name: str, local: int, cluster: int) -> dict:
    """An item of the visibility API's pendingworkloads list."""
    return {"metadata": {"name": name, "namespace": "team-a",
                         "ownerReferences": [{"kind": "Job", "uid": "other"}]},
            "priority": 0, "localQueueName": "team-a",
            "positionInClusterQueue": cluster, "positionInLocalQueue": local}  # fmt: skip


def test_the_workloads_message_says_why_it_waits():
    assert (
        workload_message(workload("u", cond("QuotaReserved", "False", "Pending", NO_QUOTA)))
        == NO_QUOTA
    )
    checks = workload(
        "u",
        cond("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue gpu"),
        cond("Admitted", "False", "NoChecks", "The workload has not all checks ready"),
    )
    assert workload_message(checks) == (
        "quota reserved, waiting for admission checks: The workload has not all checks ready"
    )
    preempted = workload("u", cond("Evicted", "True", "Preempted", "Preempted to accommodate a "
                                   "higher priority Workload"),
                         cond("QuotaReserved", "False", "Pending", NO_QUOTA))  # fmt: skip
    said = workload_message(preempted)
    assert (
        said.startswith("evicted by Kueue (Preempted): Preempted to accommodate")
        and NO_QUOTA in said
    )
    admitted = workload("u", cond("QuotaReserved", "True", "QuotaReserved", "ok"),
                        cond("Admitted", "True", "Admitted", "ok"))  # fmt: skip
    assert workload_message(admitted) is None and workload_message(None) is None
    assert workload_message(workload("u")) is None  # just created: nothing said yet


def test_the_jobs_workload_and_its_position():
    mine = workload("job-uid", cond("QuotaReserved", "False", "Pending", NO_QUOTA))
    other = workload("someone-else", name="job-other-9")
    assert workload_of([other, mine], "job-uid") is mine and workload_of([other], "job-uid") is None
    newer = workload("job-uid", name="job-train-new", created="2029-12-31T23:45:00Z")
    assert workload_of([mine, newer], "job-uid") is newer
    items = [pending("job-other-9", 0, 0), pending("job-train-abc12345-1f2e3", 2, 5)]
    assert position_of(items, "job-train-abc12345-1f2e3") == (2, 5)
    assert position_of(items, "absent") == (None, None)
    view = kueue_view([other, mine], items, "job-uid")
    assert view == KueueView(NO_QUOTA, "job-train-abc12345-1f2e3", 2, 5)
    assert view.describe() == f"position 3 in its queue (6 in its ClusterQueue); {NO_QUOTA}"
    assert kueue_view([mine], None, "job-uid").describe() == NO_QUOTA  # no visibility API
    assert kueue_view([], None, "job-uid").describe() is None


def test_the_queued_message_is_kueues_and_falls_back_to_the_jobs():
    job = _job(True, _suspended("2029-12-31T23:40:00Z"))
    view = kueue_view([workload("job-uid", cond("QuotaReserved", "False", "Pending", NO_QUOTA))],
                      [pending("job-train-abc12345-1f2e3", 0, 3)], "job-uid")  # fmt: skip
    st = derive_status(job, [], previous=_kj()["status"], job_created=True, now=NOW, kueue=view)
    assert (st.phase, st.reason) == ("PENDING", "Queued")
    assert st.message == ("waiting in Kueue queue team-a to be admitted (position 1 in its queue "
                          f"(4 in its ClusterQueue); {NO_QUOTA})")  # fmt: skip
    # Preempted: the eviction is said, and the Job ran before.
    evicted = kueue_view([workload("job-uid", cond("Evicted", "True", "Preempted", "by team-b"))],
                         None, "job-uid")  # fmt: skip
    st = derive_status(job, [], previous={**_kj()["status"], "startTime": "2029-12-31T23:30:00Z"},
                       job_created=True, now=NOW, kueue=evicted)  # fmt: skip
    assert st.message == ("preempted by Kueue; waiting in queue team-a to be admitted again "
                          "(evicted by Kueue (Preempted): by team-b)")  # fmt: skip
    # No Workload readable (no Kueue, no RBAC) or nothing said yet: the Job's own condition.
    for empty in (None, KueueView(), kueue_view([workload("job-uid")], None, "job-uid")):
        st = derive_status(job, [], previous=_kj()["status"], job_created=True, now=NOW,
                           kueue=empty)  # fmt: skip
        assert st.message == "waiting in Kueue queue team-a to be admitted (Job suspended)"
    # Through the operator's status patch, as the controller calls it.
    patch = status_patch(_kj(), job, [], Action(), kueue=view)
    assert patch and patch["reason"] == "Queued" and NO_QUOTA in patch["message"]


def test_the_real_suspended_dump_with_and_without_its_workload():
    job = load("11-job-suspended-gpu-kueue-issue2391.yaml")
    uid = job["metadata"]["uid"]
    st = derive_status(job, [], now=NOW)
    assert "lq-all-resources" in st.message and st.message.endswith("(Job suspended)")
    view = kueue_view(
        [workload(uid, cond("QuotaReserved", "False", "Pending", NO_QUOTA))], None, uid
    )
    st = derive_status(job, [], now=NOW, kueue=view)
    assert (st.phase, st.reason) == ("PENDING", "Queued")
    assert st.message == f"waiting in Kueue queue lq-all-resources to be admitted ({NO_QUOTA})"


def test_the_visibility_api_is_asked_at_its_path():
    """The operator's request for a queue's pending workloads, against a real HTTP server
    standing in for Kueue's visibility API (the test control plane cannot serve it)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from kinetic_operator.cluster import Cluster
    from kubernetes import client

    seen: list[str] = []
    items = [pending("job-train-abc12345-1f2e3", 1, 4)]

    class Visibility(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            ok = "/v1beta1/" in self.path  # an older Kueue: v1beta2 not served
            body = json.dumps({"kind": "PendingWorkloadsSummary", "items": items} if ok
                              else {"kind": "Status", "code": 404}).encode()  # fmt: skip
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Visibility)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = client.Configuration()
        settings.host = f"http://127.0.0.1:{server.server_address[1]}"
        found = Cluster(client.ApiClient(settings)).pending_workloads("team-a", "gpu-queue")
    finally:
        server.shutdown()
        server.server_close()
    base = "/apis/visibility.kueue.x-k8s.io/{}/namespaces/team-a/localqueues/gpu-queue"
    base += "/pendingworkloads"
    assert seen == [base.format("v1beta2"), base.format("v1beta1")]
    assert found == items and position_of(found, "job-train-abc12345-1f2e3") == (1, 4)
