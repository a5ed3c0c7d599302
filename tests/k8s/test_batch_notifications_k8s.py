"""notify= on a batch on the test control plane: the operator's batch driver posts ONE
summary when the KineticBatch ends, with the caller gone, to a real HTTP receiver on this
machine; the URLs live in the batch's Secret (owned by the KineticBatch), hosts elsewhere;
the items never post on their own."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import batchfns
import pytest
from helpers import wait_for
from kubernetes import client
from notify_receiver import Receiver

import kinetic
from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.names import BATCH_PLURAL, GROUP, LABEL_BATCH, PLURAL, VERSION
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.wire.notification import url_host

pytestmark = pytest.mark.k8s

TESTS = Path(__file__).resolve().parents[1]
WAIT = 300
TOKEN = "T0KEN-secret-part"  # in the receiver URL's path (notify_receiver.Receiver.url)

CALLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import batchfns, kinetic
f = kinetic.run(notify=[{url!r}])(batchfns.fail_if)
batch = f.run_async_map([(i, {bad!r}) for i in range({n})], max_concurrent=3)
print(batch.batch_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _kb(api, namespace: str, batch_id: str) -> dict:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, BATCH_PLURAL, batch_id
    )


def test_the_operator_posts_one_summary_with_the_caller_gone(kube, namespace, operator, tmp_path):
    receiver = Receiver(fail_first=2)
    try:
        script = tmp_path / "caller.py"
        script.write_text(textwrap.dedent(CALLER.format(
            tests=str(TESTS), url=receiver.url(), n=5, bad=[3])))  # fmt: skip
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=WAIT)  # fmt: skip
        assert out.returncode == -signal.SIGKILL, out.stderr
        batch_id = out.stdout.split()[0]
        wait_for(lambda: receiver.posts, WAIT, 1.0, f"the batch's summary\n{operator.tail()}")
        _, path, note = receiver.posts[0]
        assert path == f"/hook/{TOKEN}" and receiver.refused == 2
        assert note["kind"] == "batch" and note["batch_id"] == batch_id
        assert note["status"] == "FAILED" and note["event"] == "failed" and note["total"] == 5
        assert note["counts"] == {"SUCCEEDED": 4, "FAILED": 1}
        assert note["failed_indexes"] == [3] and note["function"] == "batchfns.fail_if"
        assert note["status_command"].startswith(f"kinetic batches status {batch_id} --store ")
        kb = wait_for(
            lambda: (kb := _kb(kube, namespace, batch_id))["status"].get("notifications", [{}])[0]
            .get("outcome") == "delivered" and kb, 60, what="the delivery record",
        )  # fmt: skip
        (record,) = kb["status"]["notifications"]
        assert record["tries"] == 3 and record["host"] == url_host(receiver.url())
        assert kb["spec"]["notify"] == {"hosts": [url_host(receiver.url())]}
        assert "notify" not in kb["spec"]["template"] and TOKEN not in json.dumps(kb)
        secret = client.CoreV1Api(kube).read_namespaced_secret(secret_name(batch_id), namespace)
        assert TOKEN in base64.b64decode(secret.data[NOTIFY_SECRET_KEY]).decode()
        assert secret.metadata.owner_references[0].kind == "KineticBatch"
        items = client.CustomObjectsApi(kube).list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=f"{LABEL_BATCH}={batch_id}"
        )["items"]
        assert items and all("notify" not in kj["spec"] for kj in items)
        assert all(not (kj.get("status") or {}).get("notifications") for kj in items)
        batch = kinetic.attach_batch(batch_id)
        assert batch.notifications()[0]["outcome"] == "delivered"
        time.sleep(3)
        assert len(receiver.posts) == 1  # one message for the batch, none per item
    finally:
        receiver.close()


def test_notify_on_skips_a_succeeded_batch(kube, namespace, operator):
    receiver = Receiver()
    try:
        f = kinetic.run()(batchfns.square)
        quiet = f.run_async_map(range(2), notify=[receiver.url()], notify_on=["failed"])
        loud = f.run_async_map(range(2), notify=[receiver.url()])
        assert quiet.wait(WAIT) == {"SUCCEEDED": 2} and loud.wait(WAIT) == {"SUCCEEDED": 2}
        wait_for(lambda: receiver.posts, 120, what=f"the summary\n{operator.tail()}")
        time.sleep(3)
        assert [p[2]["batch_id"] for p in receiver.posts] == [loud.batch_id]
        assert receiver.posts[0][2]["status"] == "SUCCEEDED"
        assert not _kb(kube, namespace, quiet.batch_id)["status"].get("notifications")
    finally:
        receiver.close()
