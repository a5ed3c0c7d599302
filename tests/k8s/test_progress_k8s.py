"""Progress on the cluster: a job's report reaches its KineticJob (kubectl get kj PROGRESS)
through the operator's endpoint, and no job can change another job's record."""

from __future__ import annotations

import json

import jobfns
import pytest
from helpers import wait_for, wait_log
from kubernetes import client

import kinetic
from kinetic.k8s.job_manifest import PROGRESS_AUDIENCE

pytestmark = pytest.mark.k8s


def progress_column(control_plane, namespace, job_id) -> str | None:
    """The PROGRESS cell of `kubectl get kj`, None while kubectl cannot show it yet."""
    out = control_plane.kubectl("get", "kj", job_id, "-n", namespace, check=False)
    if out.returncode != 0:
        return None  # discovery cached from before the CRD was served: it refreshes
    header, row = out.stdout.splitlines()[:2]
    cell = row[header.index("PROGRESS") :].split()
    return cell[0] if cell else None


def test_progress_shows_in_kubectl_get_kj(kube, namespace, control_plane, tmp_path):
    flag = tmp_path / "go"
    job = kinetic.run()(jobfns.progress_then_wait).run_async(str(flag), 120)
    wait_log(job, "reported", timeout=60)
    wait_for(lambda: progress_column(control_plane, namespace, job.job_id) == "50%",
             timeout=15, what="PROGRESS 50% within 15 s of the report")  # fmt: skip
    progress = job.state().progress  # from the KineticJob
    assert progress["fraction"] == 0.5 and progress["message"] == "step 5"
    assert progress["metrics"] == {"loss": 0.2}
    listed = json.loads(control_plane.kubectl("get", "kj", job.job_id, "-n", namespace,
                                              "-o", "json").stdout)  # fmt: skip
    assert listed["status"]["progressText"] == "50%"
    flag.touch()
    assert job.result(timeout=60, cleanup=False) == "ok"
    wait_for(lambda: progress_column(control_plane, namespace, job.job_id) == "100%",
             timeout=15, what="the final report")  # fmt: skip
    kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kinetic.dev", "v1alpha1", namespace, "kineticjobs", job.job_id
    )
    assert kj["status"]["progress"] == {"fraction": 1.0, "message": "done", "metrics": {},
                                        "updated": kj["status"]["progress"]["updated"]}  # fmt: skip


def test_a_job_cannot_report_for_another(kube, namespace, control_plane, tmp_path):
    flag = tmp_path / "go"
    other = kinetic.run()(jobfns.progress_then_wait).run_async(str(flag), 120)
    wait_log(other, "reported", timeout=60)
    wait_for(lambda: (other.state().progress or {}).get("fraction") == 0.5, timeout=15)
    # A job posts, with its own pod's token, a report for the other job: refused.
    intruder = kinetic.run()(jobfns.report_as).run_async(other.job_id)
    assert intruder.result(timeout=60, cleanup=False) == 403
    # And for itself but another attempt: refused too.
    wrong_attempt = kinetic.run()(jobfns.report_as)
    job = wrong_attempt.run_async(None, 7)
    assert job.result(timeout=60, cleanup=False) == 403
    flag.touch()
    assert other.result(timeout=60, cleanup=False) == "ok"
    wait_for(lambda: other.state().progress["fraction"] == 1.0, timeout=15)
    assert (intruder.state().progress or {}).get("fraction") != 0.99


def post(url: str, token: str) -> int:
    body = {"job_id": "anything", "attempt": 1, "report": {"fraction": 0.5}}
    return jobfns.post_report(url, token, body)


def test_tokens_not_minted_for_a_pod_are_refused(kube, namespace, operator):
    url = operator.env["KINETIC_PROGRESS_URL"]
    core = client.CoreV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "someone"}})

    def token(audiences):
        spec = {"audiences": audiences, "expirationSeconds": 600}
        return core.create_namespaced_service_account_token(
            "someone", namespace, {"spec": spec}
        ).status.token

    assert post(url, token([PROGRESS_AUDIENCE])) == 401  # not bound to a pod
    assert post(url, token(["https://kubernetes.default.svc"])) == 401  # another audience
    assert post(url, "not-a-token") == 401
