"""Inputs that used to be accepted and fail later are refused before anything exists.

Through the public API and the CLI, on both stores: after each refusal the store holds no
job at all.
"""

from __future__ import annotations

import subprocess
import sys

import jobfns
import pytest

import kinetic
from kinetic import SpecError


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    "options, option, shown",
    [
        ({"env": {"A": "a\x00b"}}, "env['A']", "a\x00b"),
        ({"secret_env": {"TOKEN": "s3\x00cret"}}, "secret_env['TOKEN']", "<hidden>"),
        ({"start_at": "2001-01-01T00:00:00Z"}, "start_at", "2001-01-01T00:00:00Z"),
        ({"memory": 2048}, "memory", 2048),
        ({"ephemeral_storage": "512"}, "ephemeral_storage", "512"),
        ({"env": {"A\n": "x"}}, "env", "A\n"),
    ],
)
def test_refused_when_decorating_and_submitting(store_uri, options, option, shown):
    with pytest.raises(SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    assert (info.value.option, info.value.value) == (option, shown)
    with pytest.raises(SpecError):
        kinetic.submit(["true"], **options)
    assert kinetic.list_jobs() == []


def test_messages_say_what_would_be_accepted():
    with pytest.raises(SpecError, match="did you mean 2048Mi"):
        kinetic.run(memory=2048)
    with pytest.raises(SpecError, match=r"not in the past .*it is now"):
        kinetic.run(start_at="2001-01-01T00:00:00Z")
    with pytest.raises(SpecError, match="did you mean 'l4'"):
        kinetic.run(accelerator="l44")
    # what stays accepted: units, large byte counts, a start a few seconds ago
    from datetime import timedelta

    from kinetic.model.status import utcnow

    kinetic.JobSpec(memory="2048Mi", ephemeral_storage=10 * 2**30)
    kinetic.JobSpec(start_at=utcnow() - timedelta(seconds=5))


def test_a_job_id_with_a_trailing_newline_is_invalid_not_missing(store_uri):
    with pytest.raises(kinetic.InvalidJobIdError):
        kinetic.attach("job-1\n")
    out = cli("jobs", "status", "job-1\n")
    assert out.returncode == 2, out.stderr  # invalid (2), not "not found" (3)
    assert "invalid job id" in out.stderr


def test_cli_submit_refuses_before_creating(store_uri):
    out = cli("jobs", "submit", "--memory", "2048", "--", "true")
    assert out.returncode == 2, out.stderr
    assert "did you mean 2048Mi" in out.stderr
    assert kinetic.list_jobs() == []
