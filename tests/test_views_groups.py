"""`kinetic dashboard`'s batch and workflow pages (issue 18) in headless Chromium: a real
batch of four items (two failing while a flag file exists) and a real three-job workflow
whose middle job fails until a marker exists. The pages show the counts, the items and
the graph's nodes and edges; Retry from the page runs the failed part again; the job list
keeps one batch's or one workflow's jobs."""

from __future__ import annotations

import os
from pathlib import Path

import batchfns
import pipelinefns
import pytest
from helpers import wait_for
from test_views_dashboard import (  # noqa: F401 - fixtures
    _click,
    _confirm,
    _request,
    _text,
    browser,
    dashboard,
    start_dashboard,
)

import kinetic
import kinetic.workflow
from kinetic import JobStatus

WORKFLOW = """
version: "1"
name: views
jobs:
  - name: fetch
    function: "pipelinefns:download"
    args: [3]
  - name: clean
    function: "pipelinefns:needs_file"
    args: [{marker!r}, {{result_of: fetch}}]
  - name: report
    command: echo
    args: [done]
    depends_on: [clean]
"""


def test_batch_pages_in_a_browser(dashboard, browser, tmp_path):  # noqa: F811
    flag = tmp_path / "flag"
    flag.touch()
    batch = kinetic.run()(batchfns.fail_while_flag).run_async_map(
        [(i, str(flag)) for i in range(4)], max_concurrent=4
    )
    assert batch.wait(180, progress=False) == {"SUCCEEDED": 2, "FAILED": 2}
    browser.get(dashboard + "#/batches")
    row = f'tr[data-batch="{batch.batch_id}"]'
    wait_for(lambda: "failed 2" in _text(browser, row), 60, what="the batch listed, counted")
    wait_for(lambda: "succeeded 2" in _text(browser, row), 30, what="the succeeded count")
    _click(browser, "link text", batch.batch_id)
    wait_for(lambda: "failed 2" in _text(browser, "#counts"), 60, what="the batch's counts")
    assert "succeeded 2" in _text(browser, "#counts")
    items = browser.find_elements("css selector", "#items tr[data-item]")
    assert len(items) == 4
    item = 'tr[data-item="1"]'  # redrawn every 2 s: read until a whole row is had
    wait_for(lambda: "FAILED" in (t := _text(browser, item)) and "UserError" in t, 30,
             what="the failed item")  # fmt: skip
    wait_for(lambda: "SUCCEEDED" in _text(browser, 'tr[data-item="2"]'), 30, what="item 2")
    # Retry the failed items from the page, the flag gone: every item succeeds.
    flag.unlink()
    browser.find_element("id", "retry").click()
    _confirm(browser)
    wait_for(lambda: _text(browser, "#counts") == "succeeded 4", 180, what="the retried items")
    assert batch.status_counts() == {"SUCCEEDED": 4}
    # An item's link opens its job page.
    _click(browser, "link text", f"{batch.batch_id}-3")
    wait_for(lambda: _text(browser, "#job-status") == "SUCCEEDED", 60, what="the item's page")
    # The job list keeps this batch's items only.
    other = kinetic.run()(batchfns.square).run_async(3)
    other.wait(120)
    status, page = _request(f"{dashboard}api/jobs?batch={batch.batch_id}")
    assert status == 200 and page["total"] == 4, page
    assert {j["job_id"] for j in page["jobs"]} == {f"{batch.batch_id}-{i}" for i in range(4)}


def test_batch_cancel_from_the_api(dashboard, tmp_path):  # noqa: F811
    batch = kinetic.run()(batchfns.timed).run_async_map(
        [(i, str(tmp_path / "log"), 300) for i in range(3)], max_concurrent=1
    )
    url = f"{dashboard}api/batches/{batch.batch_id}"
    wait_for(lambda: _request(url)[1].get("counts", {}).get("RUNNING") == 1, 120,
             what="an item running")  # fmt: skip
    assert _request(url + "/cancel", "POST")[0] == 403  # no cross-site protection header
    status, body = _request(url + "/cancel", "POST", {"X-Kinetic-Request": "1"})
    assert status == 200, body
    wait_for(lambda: _request(url)[1]["counts"] == {"CANCELLED": 3}, 120, what="all cancelled")
    status, page = _request(f"{dashboard}api/batches?limit=1")
    assert status == 200 and page["total"] == 1 and page["batches"][0]["count"] == 3


@pytest.fixture
def importing_dashboard(python_env):
    """A dashboard that can import the workflow's functions: a retry plans from the file
    again (like `kinetic workflow retry`), which imports them."""
    here = str(Path(pipelinefns.__file__).parent)
    env = {**python_env, "PYTHONPATH": os.pathsep.join(filter(None, [here, python_env.get(
        "PYTHONPATH")]))}  # fmt: skip
    proc, url = start_dashboard(env)
    yield url
    proc.terminate()
    proc.wait(30)


def test_workflow_pages_in_a_browser(importing_dashboard, browser, tmp_path):  # noqa: F811
    url = importing_dashboard
    marker = tmp_path / "marker"
    flow = kinetic.workflow.run(WORKFLOW.format(marker=str(marker)))
    status = flow.wait(180)
    assert status.phase == JobStatus.FAILED
    browser.get(url + "#/workflows")
    row = f'tr[data-workflow="{flow.workflow_id}"]'
    wait_for(lambda: "FAILED" in _text(browser, row), 60, what="the workflow listed")
    _click(browser, "link text", flow.workflow_id)
    wait_for(lambda: _text(browser, "#phase") == "FAILED", 60, what="the workflow's page")
    # The graph: three nodes, the edges of depends_on, each node's status.
    # Read in one script: the graph is redrawn every 2 s (an element found may be replaced).
    nodes = dict(browser.execute_script(
        "return [...document.querySelectorAll('#dag g.node')]"
        ".map((n) => [n.dataset.node, n.dataset.status])"))  # fmt: skip
    assert nodes == {"fetch": "SUCCEEDED", "clean": "FAILED", "report": "CANCELLED"} or (
        nodes["fetch"] == "SUCCEEDED" and nodes["clean"] == "FAILED"), nodes  # fmt: skip
    edges = {tuple(e) for e in browser.execute_script(
        "return [...document.querySelectorAll('#dag line.edge')]"
        ".map((e) => [e.dataset.from, e.dataset.to])")}  # fmt: skip
    assert edges == {("fetch", "clean"), ("clean", "report")}
    wait_for(lambda: "UserError" in _text(browser, 'tr[data-node="clean"]'), 30,
             what="the failed job's reason")  # fmt: skip
    # Retry from the page: the failed job and the one below it run again and succeed.
    marker.touch()
    browser.find_element("id", "retry").click()
    _confirm(browser)
    wait_for(lambda: _text(browser, "#phase") == "SUCCEEDED", 180, what="the retried workflow")
    assert kinetic.workflow.attach(flow.workflow_id).status().phase == JobStatus.SUCCEEDED
    # The job list keeps this workflow's jobs: the three, and the two that the retry replaced.
    listed = f"{url}api/jobs?workflow={flow.workflow_id}"
    wait_for(lambda: _request(listed)[1].get("total") == 5, 60, what="the workflow's 5 jobs")
    ids = {j["job_id"] for j in _request(listed)[1]["jobs"]}
    assert set(kinetic.workflow.attach(flow.workflow_id).record.jobs.values()) <= ids
