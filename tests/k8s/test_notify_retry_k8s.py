"""A retry on the cluster carries its original's notify URLs: the client never reads them
(its role cannot read Secrets); the retry's KineticJob names the original
(spec.notify.urlsFrom) and the operator copies them into the retry's own Secret. With the
original's KineticJob (and Secret) deleted, the retry says so."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from helpers import wait_for
from kubernetes import client
from notify_receiver import Receiver

import kinetic
from kinetic import JobStatus
from kinetic.client.notify_carry import NotifyNotCarried
from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.names import GROUP, PLURAL, VERSION
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.wire.notification import url_host

pytestmark = pytest.mark.k8s
TOKEN = "T0KEN-secret-part"
FAILS = ["sh", "-c", "echo failing; exit 3"]


def _kj(kube, namespace: str, job_id: str) -> dict:
    return client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, job_id
    )


def test_the_operator_carries_the_urls_to_the_retry(kube, namespace, operator):
    receiver = Receiver()
    try:
        first = kinetic.submit(FAILS, name="carry", notify=[receiver.url()])
        assert first.wait(120).status == JobStatus.FAILED, operator.tail()
        wait_for(lambda: receiver.posts, 60, what="the original's notification")
        second = first.retry()
        kj = _kj(kube, namespace, second.job_id)
        assert kj["spec"]["notify"] == {"hosts": [url_host(receiver.url())],
                                        "urlsFrom": first.job_id}  # fmt: skip
        assert TOKEN not in json.dumps(kj) and TOKEN not in second.to_json()
        assert second.wait(120).status == JobStatus.FAILED, operator.tail()
        wait_for(lambda: len(receiver.posts) == 2, 90, what=f"the retry's\n{operator.tail()}")
        _, path, note = receiver.posts[1]
        assert path == f"/hook/{TOKEN}" and note["job_id"] == second.job_id
        secret = client.CoreV1Api(kube).read_namespaced_secret(secret_name(second.job_id),
                                                               namespace)  # fmt: skip
        assert TOKEN in base64.b64decode(secret.data[NOTIFY_SECRET_KEY]).decode()
        assert secret.metadata.owner_references[0].name == second.job_id  # goes with it
        # The original deleted (its Secret with it): a retry of it says so, and runs.
        client.CustomObjectsApi(kube).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, first.job_id
        )
        wait_for(lambda: first.status() == JobStatus.NOT_FOUND, 60, what="the deletion")
        with pytest.warns(NotifyNotCarried, match="KineticJob, and with it the Secret"):
            third = first.retry(force=True)
        assert "urlsFrom" not in (_kj(kube, namespace, third.job_id)["spec"].get("notify") or {})
        out = subprocess.run([sys.executable, "-m", "kinetic.cli", "jobs", "retry",
                              first.job_id, "--force"], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "note: the notify URLs of" in out.stderr and TOKEN not in out.stderr
    finally:
        receiver.close()
