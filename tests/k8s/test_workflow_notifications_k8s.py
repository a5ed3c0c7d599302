"""notify: on a workflow, on the cluster: the operator sends ONE summary when the last of
its KineticJobs ends, with the caller gone, to a real HTTP receiver on this machine; the
members send nothing of their own; the outcome is on the member that sent it, shown by
`kinetic workflow status`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import jobfns
import pytest
from helpers import wait_for
from kubernetes import client
from notify_receiver import Receiver

import kinetic
import kinetic.workflow
from kinetic import JobStatus
from kinetic.k8s.names import GROUP, LABEL_WORKFLOW, PLURAL, VERSION
from kinetic.wire.notification import url_host

pytestmark = pytest.mark.k8s
TOKEN = "T0KEN-secret-part"  # in the receiver URL's path (notify_receiver.Receiver.url)
WAIT = 240

# a → b, a → c; b fails while the flag file exists.
TRIANGLE = """
name: tri
notify: [{url!r}]
jobs:
  - {{name: a, command: {py!r}, args: ["-c", "import time; time.sleep(2); print('a')"]}}
  - {{name: b, command: {py!r}, args: ["-c", {fail!r}], depends_on: [a]}}
  - {{name: c, command: {py!r}, args: ["-c", "print('c')"], depends_on: [a]}}
"""
CALLER = """
import os, signal, sys
import kinetic.workflow
handle = kinetic.workflow.run(sys.argv[1])
print(handle.workflow_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_operator_sends_one_summary_with_the_caller_gone_and_one_per_retry(
    kube, namespace, tmp_path
):
    receiver = Receiver(fail_first=1)
    try:
        path, script = tmp_path / "wf.yaml", tmp_path / "caller.py"
        flag = tmp_path / "broken"  # the simulated node's pods run on this machine
        flag.write_text("x")
        fail = f"import os; raise SystemExit(3 if os.path.exists({str(flag)!r}) else 0)"
        path.write_text(TRIANGLE.format(url=receiver.url(), py=sys.executable, fail=fail))
        script.write_text(textwrap.dedent(CALLER))
        out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                             text=True, timeout=WAIT)  # fmt: skip
        assert out.returncode == -signal.SIGKILL, out.stderr
        workflow_id = out.stdout.split()[0]
        wait_for(lambda: receiver.posts, WAIT, 0.5, "the workflow's summary")
        handle = kinetic.workflow.attach(workflow_id)
        _, url_path, note = receiver.posts[0]
        assert url_path == f"/hook/{TOKEN}" and receiver.refused == 1
        assert note["kind"] == "workflow" and note["workflow_id"] == workflow_id
        assert note["status"] == "FAILED" and note["generation"] == 0
        assert note["counts"] == {"SUCCEEDED": 2, "FAILED": 1}
        assert {j["name"]: j["job_id"] for j in note["jobs"]} == handle.record.jobs
        assert note["status_command"].startswith(f"kinetic workflow status {workflow_id} --store")
        assert handle.status().phase == JobStatus.FAILED
        records = wait_for(
            lambda: [r for r in handle.notifications() if r["outcome"] == "delivered"], 60,
            what="the summary's delivery record",
        )  # fmt: skip
        assert records[0]["host"] == url_host(receiver.url()) and records[0]["tries"] == 2
        time.sleep(5)  # the members never post on their own: one message for the workflow
        assert len(receiver.posts) == 1
        found = client.CustomObjectsApi(kube).list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=f"{LABEL_WORKFLOW}={workflow_id}"
        )["items"]
        assert {kj["metadata"]["name"] for kj in found} == set(handle.record.jobs.values())
        assert TOKEN not in json.dumps(found)
        assert not any((kj.get("status") or {}).get("notifications") for kj in found)
        senders = [kj for kj in found if (kj.get("status") or {}).get("workflowSummary")]
        assert len(senders) == 1 and senders[0]["status"]["workflowSummary"]["generation"] == 0
        shown = subprocess.run([sys.executable, "-m", "kinetic.cli", "workflow", "status",
                                workflow_id], capture_output=True, text=True)  # fmt: skip
        assert "notifications: 127.0.0.1" in shown.stdout and "delivered (2 tries)" in shown.stdout
        # A retry's end sends a new summary (generation 1), claimed on one of its new jobs.
        flag.unlink()
        handle.retry()
        assert handle.wait(WAIT).phase == JobStatus.SUCCEEDED
        wait_for(lambda: len(receiver.posts) >= 2, WAIT, 0.5, "the retry's summary")
        again = receiver.posts[1][2]
        assert again["generation"] == 1 and again["status"] == "SUCCEEDED"
        assert again["counts"] == {"SUCCEEDED": 3}
        assert {j["name"]: j["job_id"] for j in again["jobs"]} == handle.record.jobs
        wait_for(lambda: [r for r in handle.notifications() if r["outcome"] == "delivered"], 60,
                 what="the retry summary's record")  # fmt: skip
        time.sleep(5)
        assert len(receiver.posts) == 2
    finally:
        receiver.close()


def test_a_restarted_operator_does_not_send_it_again(kube, namespace, operator, tmp_path):
    receiver = Receiver()
    try:
        text = TRIANGLE.format(url=receiver.url(), py=sys.executable, fail="print('b')")
        handle = kinetic.workflow.run(text)
        assert handle.wait(WAIT).phase == JobStatus.SUCCEEDED
        wait_for(lambda: [r for r in handle.notifications() if r["outcome"] == "delivered"], 90,
                 what="the summary's delivery record")  # fmt: skip
        assert [p[2].get("workflow_id") for p in receiver.posts] == [handle.workflow_id]
        operator.kill()  # restarted: it syncs every KineticJob again, the members' too
        operator.log.close()
        operator.start()
        # A job's own notification after the restart: the new operator has synced by then.
        job = kinetic.run(notify=[receiver.url()])(jobfns.add).run_async(1, 2)
        assert job.result(timeout=120, cleanup=False) == 3
        wait_for(lambda: len(receiver.posts) >= 2, 90, what="the job's own notification")
        time.sleep(5)
        kinds = [p[2].get("kind", "job") for p in receiver.posts]
        assert kinds == ["workflow", "job"], kinds  # the summary was not sent again
    finally:
        receiver.close()
