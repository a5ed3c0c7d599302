"""Workflows from YAML on the local backend: whole-file validation (each error names the
job and the field, nothing is created), values between stages, cancel, and a retry that
re-runs only the failed stage and below. Real runner processes, both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pipelinefns
import pytest
from helpers import wait_for

import kinetic
import kinetic.workflow
from kinetic import JobStatus
from kinetic.model.reasons import Reason
from kinetic.spec.workflow_yaml import parse_workflow
from kinetic.store import layout, open_store

PIPELINE = """
version: "1"
name: nightly
jobs:
  - name: fetch
    function: "pipelinefns:download"
    args: [5]
  - name: clean
    function: "pipelinefns:needs_file"
    args: [{marker!r}, {{result_of: fetch}}]
  - name: train
    function: "pipelinefns:train"
    args: [{{result_of: clean}}]
    kwargs: {{epochs: 2}}
  - name: report
    command: echo
    args: [done]
    depends_on: [train]
"""


def stored(store_uri: str, prefix: str) -> list[str]:
    return open_store(store_uri).list_children(prefix)


@pytest.mark.parametrize(
    ("text", "option", "fragment"),
    [
        ("name: w\njobs: []\n", "jobs", "non-empty"),
        ("name: w\nbogus: 1\njobs: [{name: a, command: x}]\n", "bogus", "one of"),
        ("name: w\njobs: [{name: a, command: x, colour: red}]\n", "jobs[a].colour", "job option"),
        ("name: w\njobs: [{name: a, command: x}, {name: a, command: y}]\n", "jobs[a].name",
         "no other job"),
        ("name: w\njobs: [{name: a, command: x, depends_on: [b]}]\n", "jobs[a].depends_on",
         "names of jobs"),
        ("name: w\njobs: [{name: a, command: x, depends_on: [b]}, "
         "{name: b, command: y, depends_on: [a]}]\n", "jobs[a].depends_on", "without a cycle"),
        ("name: w\njobs: [{name: a, command: x, timeout: -1}]\n", "jobs[a].timeout", "seconds"),
        ("name: w\njobs: [{name: a, command: x, accelerator: warp9}]\n", "jobs[a].accelerator",
         ""),
        ("name: w\njobs: [{name: a, command: x, function: 'm:f'}]\n", "jobs[a].command",
         "not both"),
        ("name: w\njobs: [{name: a}]\n", "jobs[a].command", "either"),
        ("name: w\njobs: [{name: a, function: nocolon}]\n", "jobs[a].function", "module:"),
        ("name: w\njobs: [{name: a, command: x, args: {k: v}}]\n", "jobs[a].args", "list"),
        ("name: w\njobs: [{name: a, command: x, secret_env: [KINETIC_NOT_SET_ANYWHERE]}]\n",
         "jobs[a].secret_env", "set in this environment"),
        ("name: bad name!\njobs: [{name: a, command: x}]\n", "name", "letters"),
        ("name: w\ndefaults: {store: x}\njobs: [{name: a, command: x}]\n", "defaults.store",
         ""),
        ("jobs: [\n", "workflow", "YAML"),
    ],
)  # fmt: skip
def test_every_validation_error_names_the_job_and_the_field(store_uri, text, option, fragment):
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.workflow.run(text)
    assert info.value.option == option and fragment in str(info.value)
    assert stored(store_uri, layout.JOBS) == [] and stored(store_uri, layout.WORKFLOWS) == []


def test_several_problems_are_reported_together(store_uri):
    text = "name: w\njobs: [{name: a, command: x, timeout: 0}, {name: b, command: y, zz: 1}]\n"
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.workflow.run(text)
    assert "jobs[a].timeout" in str(info.value) and "jobs[b].zz" in str(info.value)


def test_an_unimportable_function_creates_nothing(store_uri):
    text = ("name: w\njobs: [{name: a, command: 'true'}, "
            "{name: b, function: 'pipelinefns:nope', depends_on: [a]}]\n")  # fmt: skip
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.workflow.run(text)
    assert info.value.option == "jobs[b].function"
    assert stored(store_uri, layout.JOBS) == []


def test_the_plan_orders_jobs_after_their_dependencies():
    plan = parse_workflow(
        "name: w\njobs:\n  d: {command: x, depends_on: [b, c]}\n  b: {command: x, depends_on: [a]}"
        "\n  c: {function: 'm:f', args: [{result_of: a}]}\n  a: {command: x}\n"
    )
    names = [j.name for j in plan.jobs]
    assert names.index("a") < names.index("b") < names.index("d") and names.index("c") < 3
    assert plan.job("c").depends_on == ("a",)  # result_of implies the dependency
    assert plan.downstream({"b"}) == {"b", "d"}


def test_a_failed_workflow_is_retried_from_the_failure(store_uri, tmp_path):
    marker = tmp_path / "fixed"
    handle = kinetic.workflow.run(PIPELINE.format(marker=str(marker)))
    status = handle.wait(240)
    assert status.phase == JobStatus.FAILED
    states = status.jobs
    assert states["fetch"].status == JobStatus.SUCCEEDED
    assert states["clean"].status == JobStatus.FAILED
    for name in ("train", "report"):
        assert (states[name].status, states[name].reason) == (
            JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)  # fmt: skip
    first_ids = dict(handle.record.jobs)
    marker.write_text("fixed")
    again = kinetic.workflow.attach(handle.workflow_id).retry()
    assert again.record.jobs["fetch"] == first_ids["fetch"]  # not run again
    assert all(again.record.jobs[n] != first_ids[n] for n in ("clean", "train", "report"))
    status = again.wait(240)
    assert status.phase == JobStatus.SUCCEEDED
    results = again.results()
    assert results["train"]["weights"] == pytest.approx(np.arange(5).sum() * 2)
    assert results["report"] == 0
    assert again.record.history[0]["replaced"]["clean"] == first_ids["clean"]
    assert [w.workflow_id for w in kinetic.workflow.list()] == [handle.workflow_id]
    again.cleanup()
    assert stored(store_uri, layout.JOBS) == [] and stored(store_uri, layout.WORKFLOWS) == []


def test_cancelling_a_workflow_stops_what_runs_and_what_waits(store_uri):
    text = textwrap.dedent("""
        name: long
        jobs:
          - {name: first, function: "pipelinefns:slow", args: [1, 600]}
          - {name: second, function: "pipelinefns:echo", args: [{result_of: first}]}
    """)
    handle = kinetic.workflow.run(text)
    first = handle.jobs()["first"]
    wait_for(lambda: first.status() == JobStatus.RUNNING, timeout=60, what="first RUNNING")
    status = handle.cancel(timeout=60)
    assert status.phase == JobStatus.CANCELLED
    assert {s.status for s in status.jobs.values()} == {JobStatus.CANCELLED}


def test_the_cli_runs_shows_and_retries(store_uri, tmp_path):
    marker = tmp_path / "fixed"
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(marker=str(marker)))

    def kinetic_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(Path(pipelinefns.__file__).parent)}
        return subprocess.run([sys.executable, "-m", "kinetic.cli", *args], capture_output=True,
                              text=True, timeout=300, check=check, env=env)  # fmt: skip

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: w\njobs: [{name: a, command: x, retries: -2}]\n")
    refused = kinetic_cli("workflow", "run", str(bad), check=False)
    assert refused.returncode == 2 and "jobs[a].retries" in refused.stderr
    ran = kinetic_cli("workflow", "run", "--wait", str(path), check=False)
    assert ran.returncode == 1
    workflow_id = ran.stdout.splitlines()[0]
    assert "layer 3" in ran.stdout and "DependencyFailed" in ran.stdout
    graph = json.loads(kinetic_cli("workflow", "status", workflow_id, "-o", "json").stdout)
    assert graph["phase"] == "FAILED"
    assert ["fetch", "clean"] in graph["edges"] and len(graph["nodes"]) == 4
    assert "FileNotFoundError" in kinetic_cli("workflow", "logs", workflow_id, "clean").stdout
    clean_id = next(n["job_id"] for n in graph["nodes"] if n["name"] == "clean")
    tree = json.loads(kinetic_cli("jobs", "tree", clean_id, "-o", "json").stdout)
    assert {n["job_id"] for n in tree["nodes"]} == {n["job_id"] for n in graph["nodes"]}
    text_tree = kinetic_cli("jobs", "tree", clean_id).stdout
    assert f"*✘ {clean_id}" in text_tree
    marker.write_text("fixed")
    out = kinetic_cli("workflow", "retry", workflow_id).stdout
    assert "re-running clean, train, report" in out
    handle = kinetic.workflow.attach(workflow_id)
    assert handle.wait(240).phase == JobStatus.SUCCEEDED
    assert workflow_id in kinetic_cli("workflow", "list").stdout
