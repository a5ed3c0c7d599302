"""The live views against a Kubernetes listing (issue 18): `kinetic top --once` and the
dashboard's JSON list read the cluster's KineticJobs (one paginated listing that carries
every state) on the test control plane with the simulated node: a succeeded, a failed
and a running job, each with its status and reason; the dashboard's job page shows a
finished job's recorded resource use; a batch's counts (from its items' KineticJobs) and
page."""

from __future__ import annotations

import os
import subprocess
import sys

import batchfns
import jobfns
import pytest
from helpers import wait_for, wait_log, wait_status
from test_views_dashboard import _request, start_dashboard

import kinetic
from kinetic.model.status import JobStatus

pytestmark = pytest.mark.k8s


@pytest.fixture
def k8s_jobs(kube):
    run = kinetic.run()
    done = run(jobfns.add).run_async(1, 2)
    failed = run(jobfns.fail_with).run_async("broken")
    running = run(jobfns.cooperative).run_async(300)
    assert done.result(cleanup=False, timeout=300) == 3
    wait_status(failed, JobStatus.FAILED, 300)
    wait_log(running, "working", 300)
    yield {"done": done, "failed": failed, "running": running}
    running.cancel(wait=False)


def test_top_once_lists_the_clusters_jobs(k8s_jobs):
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "top", "--once"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = {name: line for name, job in k8s_jobs.items()
             for line in out.stdout.splitlines() if job.job_id in line}  # fmt: skip
    assert set(lines) == set(k8s_jobs), out.stdout
    assert "SUCCEEDED" in lines["done"]
    assert "FAILED" in lines["failed"] and "UserError" in lines["failed"]
    assert "RUNNING" in lines["running"]
    out = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "top", "--once", "--status", "failed"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert k8s_jobs["failed"].job_id in out.stdout
    assert k8s_jobs["done"].job_id not in out.stdout


def test_dashboard_lists_the_clusters_jobs(k8s_jobs):
    proc, url = start_dashboard(dict(os.environ))
    try:
        ids = {job.job_id: name for name, job in k8s_jobs.items()}

        def listed() -> dict[str, dict] | None:
            status, page = _request(f"{url}api/jobs")
            assert status == 200, page
            found = {ids[j["job_id"]]: j for j in page.get("jobs", []) if j["job_id"] in ids}
            return found if len(found) == 3 else None

        rows = wait_for(listed, 120, what="the three KineticJobs listed")
        assert rows["done"]["status"] == "SUCCEEDED" and rows["done"]["backend"] == "kubernetes"
        assert (rows["failed"]["status"], rows["failed"]["reason"]) == ("FAILED", "UserError")
        assert rows["running"]["status"] == "RUNNING"
        status, page = _request(f"{url}api/jobs?status=RUNNING")
        assert status == 200 and [j["job_id"] for j in page["jobs"]] == [
            k8s_jobs["running"].job_id]  # fmt: skip
        assert page["counts"] == {"SUCCEEDED": 1, "FAILED": 1, "RUNNING": 1}, page["counts"]
        status, details = _request(f"{url}api/jobs/{k8s_jobs['done'].job_id}")
        assert status == 200 and details["status"] == "SUCCEEDED", details
        assert details["resources"]["peak_memory_bytes"] > 0, details["resources"]
        assert "peak memory" in details["resources_text"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_dashboard_batches_on_the_cluster(kube):
    batch = kinetic.run()(batchfns.fail_if).run_async_map([(i, [1]) for i in range(3)],
                                                          max_concurrent=3)  # fmt: skip
    assert batch.wait(300, progress=False) == {"SUCCEEDED": 2, "FAILED": 1}
    proc, url = start_dashboard(dict(os.environ))
    try:
        # The list's counts come from the KineticJobs' listing (their batch labels).
        def counted() -> dict | None:
            page = _request(f"{url}api/batches")[1]
            rows = [b for b in page.get("batches", []) if b["batch_id"] == batch.batch_id]
            return rows[0] if rows and rows[0]["counts"] == {"SUCCEEDED": 2, "FAILED": 1} else None

        row = wait_for(counted, 120, what="the batch's counts in the list")
        assert row["count"] == 3 and row["backend"] == "kubernetes"
        status, page = _request(f"{url}api/batches/{batch.batch_id}")
        assert status == 200 and page["counts"] == {"SUCCEEDED": 2, "FAILED": 1}, page
        assert [i["status"] for i in page["items"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
        assert page["can_retry"] is True  # the operator runs the failed items again
        status, body = _request(f"{url}api/batches/{batch.batch_id}/retry", "POST",
                                {"X-Kinetic-Request": "1"})  # fmt: skip
        assert status == 200 and body["retried"] == [1], body
        # fail_if fails item 1 on every attempt: it ends FAILED again, on its second attempt.
        assert batch.wait(300, progress=False) == {"SUCCEEDED": 2, "FAILED": 1}
        assert batch.jobs[1].state().attempts == 2
        status, page = _request(f"{url}api/jobs?batch={batch.batch_id}")
        assert status == 200 and page["total"] == 3, page
    finally:
        proc.terminate()
        proc.wait(30)
