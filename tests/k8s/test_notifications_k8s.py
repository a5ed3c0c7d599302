"""notify= on the cluster: the operator posts a job's end to real HTTP receivers on this
machine, with no client running; the URLs live in the job's Secret, only hosts elsewhere."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client
from notify_receiver import Receiver, Silent

import kinetic
from kinetic import JobStatus
from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.names import GROUP, PLURAL, VERSION
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.wire.notification import url_host

pytestmark = pytest.mark.k8s
TOKEN = "T0KEN-secret-part"  # in the receiver URL's path (notify_receiver.Receiver.url)


def _outcomes(job) -> list[dict]:
    records = job.state().extra.get("notifications") or []
    return records if records and all(r["outcome"] != "sending" for r in records) else []


def test_the_operator_posts_a_failure_after_two_refusals(kube, namespace):
    receiver = Receiver(fail_first=2)
    try:
        job = kinetic.run(notify=[receiver.url()])(jobfns.fail_with).run_async("boom")
        with pytest.raises(Exception, match="boom"):
            job.result(timeout=120, cleanup=False)
        wait_for(lambda: receiver.posts, 60, what="the notification")
        _, path, note = receiver.posts[0]
        assert path == f"/hook/{TOKEN}" and receiver.refused == 2
        assert note["job_id"] == job.job_id and note["status"] == "FAILED"
        assert note["reason"] == "UserError" and "boom" in note["message"]
        assert note["function"] == "jobfns.fail_with" and note["attempts"] == 1
        assert any("CustomError: boom" in line for line in note["log_tail"])  # the pod's log
        assert note["logs_command"].startswith(f"kinetic jobs logs {job.job_id} --store ")
        (record,) = wait_for(lambda: _outcomes(job), 60, what="the delivery record")
        assert record["outcome"] == "delivered" and record["tries"] == 3
        assert record["host"] == url_host(receiver.url())
        # Only hosts in the KineticJob; the URL in the Secret, which the pod's env lacks.
        kj = client.CustomObjectsApi(kube).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, job.job_id
        )
        assert TOKEN not in json.dumps(kj)
        assert kj["spec"]["notify"] == {"hosts": [url_host(receiver.url())]}
        secret = client.CoreV1Api(kube).read_namespaced_secret(secret_name(job.job_id), namespace)
        assert TOKEN in base64.b64decode(secret.data[NOTIFY_SECRET_KEY]).decode()
        assert secret.metadata.owner_references[0].name == job.job_id  # deleted with the job
        (pod_job,) = (
            client.BatchV1Api(kube)
            .list_namespaced_job(namespace, label_selector=f"kinetic.dev/job-id={job.job_id}")
            .items
        )
        assert TOKEN not in json.dumps(kube.sanitize_for_serialization(pod_job))
        assert TOKEN not in job.to_json()
    finally:
        receiver.close()


def test_no_client_is_needed_and_a_silent_url_changes_nothing(kube, namespace):
    receiver, silent = Receiver(), Silent()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "jobs", "submit", "--notify", silent.url(),
             "--notify", receiver.url(), "--", sys.executable, "-c",
             "import time; time.sleep(2); print('all done')"],
            capture_output=True, text=True, timeout=120, env=dict(os.environ),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        job = kinetic.attach(out.stdout.strip())  # the submitting process has exited
        wait_for(lambda: receiver.posts, 120, what="the notification")
        note = receiver.posts[0][2]
        assert note["status"] == "SUCCEEDED" and "all done" in note["log_tail"]
        assert job.state().status == JobStatus.SUCCEEDED
        records = wait_for(lambda: _outcomes(job), 120, what="the outcomes")
        by_host = {r["host"]: r for r in records}
        assert by_host[url_host(receiver.url())]["outcome"] == "delivered"
        assert by_host[url_host(silent.url())]["outcome"] == "failed"
        assert by_host[url_host(silent.url())]["tries"] == 4
        assert job.state().status == JobStatus.SUCCEEDED and len(receiver.posts) == 1
        status = subprocess.run(
            [sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "delivered" in status.stdout and TOKEN not in status.stdout
    finally:
        receiver.close()
        silent.close()
