"""Version skew: the caller's Python/cloudpickle/Kinetic versions travel in handle.json; a
job on another Python minor version fails at load with reason VersionSkew, and a runtime
that declares another Python is refused before anything is submitted."""

from __future__ import annotations

import sys

import jobfns
import pytest

import kinetic
import kinetic.client.submit
from kinetic import JobStatus
from kinetic.backends.k8s_refs import check_runtime_python
from kinetic.k8s.runtime_table import RuntimeTable, parse_table
from kinetic.model.errors import SpecError, VersionSkewError
from kinetic.wire.version_skew import (
    explain_load_failure,
    fingerprint,
    minor,
    python_mismatch,
    skew_problem,
)

HERE = ".".join(map(str, sys.version_info[:3]))
OTHER = f"3.{sys.version_info.minor - 1}.4"


def test_fingerprint_names_all_three():
    found = fingerprint()
    assert found["python"] == HERE and found["cloudpickle"] and found["kinetic"]


def test_minor_and_mismatch():
    assert minor("3.11.4") == "3.11" and minor("3.12") == "3.12" and minor("abc") is None
    assert python_mismatch("3.11.4", "3.12.0") and not python_mismatch("3.11.1", "3.11.9")
    assert not python_mismatch(None, "3.12.0")  # an older client recorded nothing


def test_skew_problem_names_both_sides_and_what_to_do():
    here = fingerprint()
    problem = skew_problem({"python": OTHER, "cloudpickle": "3.0.0", "kinetic": "0.1.0"}, here)
    assert problem and OTHER in problem and HERE in problem
    assert f"Python {minor(OTHER)}" in problem and "runtime or image" in problem
    assert skew_problem({"python": HERE}, here) is None
    assert skew_problem({}, here) is None


def test_cloudpickle_difference_explains_a_load_failure():
    here = {"python": HERE, "cloudpickle": "3.1.0"}
    told = explain_load_failure({"python": HERE, "cloudpickle": "2.2.1"}, here, "boom")
    assert told and "2.2.1" in told and "3.1.0" in told and "boom" in told
    assert explain_load_failure({"cloudpickle": "3.1.0"}, here, "boom") is None


def test_job_on_another_python_fails_at_load_with_version_skew(store_uri, monkeypatch):
    """A payload recorded as written by another Python minor version is never unpickled."""
    recorded = {**fingerprint(), "python": OTHER}
    monkeypatch.setattr(kinetic.client.submit, "client_fingerprint", lambda: recorded)
    job = kinetic.run()(jobfns.add).run_async(1, 2)
    with pytest.raises(VersionSkewError, match=f"Python {OTHER}"):
        job.result(timeout=60, cleanup=False)
    state = job.state()
    assert state.status == JobStatus.FAILED and state.reason == "VersionSkew"
    assert OTHER in state.message and HERE in state.message
    assert kinetic.attach(job.job_id).client["python"] == OTHER  # recorded in handle.json


def test_command_jobs_are_not_refused_for_python_skew(store_uri, monkeypatch):
    recorded = {**fingerprint(), "python": OTHER}
    monkeypatch.setattr(kinetic.client.submit, "client_fingerprint", lambda: recorded)
    job = kinetic.submit([sys.executable, "-c", "print('ok')"])
    assert job.result(timeout=60) == 0


def test_runtime_table_declares_python_and_a_mismatch_is_refused():
    table = RuntimeTable("test", parse_table(
        f'{{"old": {{"image": "img:1", "python": "{minor(OTHER)}"}}, "same": '
        f'{{"image": "img:2", "python": "{minor(HERE)}"}}, "plain": "img:3"}}'
    ))  # fmt: skip
    assert table.runtimes["old"].python == minor(OTHER)
    with pytest.raises(SpecError, match="VersionSkew"):
        check_runtime_python(table, "old")
    check_runtime_python(table, "same")
    check_runtime_python(table, "plain")  # undeclared: the job checks at load
