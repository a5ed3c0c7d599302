"""Kueue's word on a queued job, end to end on the test control plane: the operator (with
the chart's RBAC) reads the Workload Kueue made for the job's Job and puts its message in
the job's Queued status, and reads it again while the job waits (Kueue changes its
Workload, not the Job).

Kueue itself does not run here (Kubernetes 1.20: no Job ``suspend``). So the test plays
Kueue's part with its objects: a Workload CRD (the fields the operator reads:
metadata.labels ``kueue.x-k8s.io/job-uid``, status.conditions), a Workload for the Job
written as Kueue writes one, and the ``Suspended`` condition Kueue's suspension makes the
Job controller write (the 1.20 Job controller keeps conditions it does not know). The
visibility API (positions) is not served here: the message has no position, as on a
cluster without it.
"""

from __future__ import annotations

import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.k8s.kueue import KUEUE_GROUP
from kinetic.k8s.kueue_workload import JOB_UID_LABEL, WORKLOAD_PLURAL

pytestmark = pytest.mark.k8s

WORKLOAD_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{WORKLOAD_PLURAL}.{KUEUE_GROUP}"},
    "spec": {
        "group": KUEUE_GROUP,
        "names": {"kind": "Workload", "plural": WORKLOAD_PLURAL, "singular": "workload",
                  "shortNames": ["wl"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1beta1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object",
                                           "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}  # fmt: skip
NO_QUOTA = ("couldn't assign flavors to pod set main: insufficient unused quota for cpu in "
            "flavor default-flavor, 1 more needed")  # fmt: skip
STILL = (
    "couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in ClusterQueue"
)


@pytest.fixture
def workload_api(control_plane, k8s):
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition(WORKLOAD_CRD)

    def served() -> bool:
        try:
            resources = client.CustomObjectsApi(k8s).get_api_resources(KUEUE_GROUP, "v1beta1")
            return any(r.name == WORKLOAD_PLURAL for r in resources.resources)
        except client.ApiException:
            return False

    wait_for(served, timeout=30, what="discovery to serve Workloads")
    yield
    ext.delete_custom_resource_definition(WORKLOAD_CRD["metadata"]["name"])


def _condition(kind: str, status: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-12-01T10:00:00Z"}  # fmt: skip


def test_the_operator_says_what_kueues_workload_says(kube, namespace, operator, workload_api):
    job = kinetic.submit(["sleep", "600"], name="queued", queue="team-a")
    try:
        batch = client.BatchV1Api(kube)
        found = wait_for(lambda: batch.list_namespaced_job(
            namespace, label_selector=f"kinetic.dev/job-id={job.job_id}").items, 90,
            what=f"the Job\n{operator.tail()}")  # fmt: skip
        uid, name = found[0].metadata.uid, found[0].metadata.name
        custom = client.CustomObjectsApi(kube)
        wl = {"apiVersion": f"{KUEUE_GROUP}/v1beta1", "kind": "Workload",
              "metadata": {"name": f"job-{name}-1a2b3", "labels": {JOB_UID_LABEL: uid},
                           "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                "name": name, "uid": uid, "controller": True}]},
              "spec": {"queueName": "team-a", "active": True,
                       "podSets": [{"name": "main", "count": 1, "template": {}}]}}  # fmt: skip
        custom.create_namespaced_custom_object(KUEUE_GROUP, "v1beta1", namespace,
                                               WORKLOAD_PLURAL, wl)  # fmt: skip
        wl_name = wl["metadata"]["name"]

        def say(message: str) -> None:
            status = {"status": {"conditions": [
                _condition("QuotaReserved", "False", "Pending", message)]}}  # fmt: skip
            custom.patch_namespaced_custom_object_status(
                KUEUE_GROUP, "v1beta1", namespace, WORKLOAD_PLURAL, wl_name, status
            )

        say(NO_QUOTA)
        # What Kueue's suspension makes the Job controller write (1.20 keeps it).
        suspended = {"status": {"conditions": [
            {"type": "Suspended", "status": "True", "reason": "JobSuspended",
             "message": "Job suspended", "lastProbeTime": "2026-12-01T10:00:00Z",
             "lastTransitionTime": "2026-12-01T10:00:00Z"}]}}  # fmt: skip
        batch.patch_namespaced_job_status(name, namespace, suspended)
        state = wait_for(lambda: (s := job.state()).message and NO_QUOTA in s.message and s, 90,
                         what=f"Kueue's message in the status\n{operator.tail()}")  # fmt: skip
        assert (state.status, state.reason) == (JobStatus.PENDING, "Queued")
        # The 1.20 Job controller ignores `suspend`: the Job starts (its startTime, its pod)
        # before the test suspends it, and whether the operator has recorded that start
        # when it sees the suspension decides the wording. Both are Kueue's word; the
        # wording itself is tested on real objects (tests/test_kueue.py).
        assert state.message in {
            f"waiting in Kueue queue team-a to be admitted ({NO_QUOTA})",
            f"preempted by Kueue; waiting in queue team-a to be admitted again ({NO_QUOTA})",
        }
        # Kueue changes its Workload only: the operator reads it again while the job waits.
        say(STILL)
        state = wait_for(lambda: (s := job.state()).message and STILL in s.message and s, 90,
                         what=f"the Workload's new message\n{operator.tail()}")  # fmt: skip
        assert state.reason == "Queued"
        # Without its Workload, the Job's own condition is the message again.
        custom.delete_namespaced_custom_object(KUEUE_GROUP, "v1beta1", namespace,
                                               WORKLOAD_PLURAL, wl_name)  # fmt: skip
        wait_for(lambda: (job.state().message or "").endswith("(Job suspended)"), 90,
                 what=f"the fallback to the Job's condition\n{operator.tail()}")  # fmt: skip
    finally:
        job.cancel(wait=False)
