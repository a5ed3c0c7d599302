"""secret_env: the job gets the values; nothing Kinetic writes or shows contains them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jobfns
import pytest

import kinetic
from kinetic.job.masking import MASK, Masker

SECRET = "s3cr3t-Value-93f1c"


def test_masker_handles_secrets_split_across_pieces():
    m = Masker(["abcdef", "abc"])
    out = m.feed(b"x ab") + m.feed(b"cdef y abc") + m.feed(b"de") + m.flush()
    assert out == b"x " + MASK + b" y " + MASK + b"de"
    assert Masker([]).feed(b"plain") == b"plain"


def test_secret_values_never_leave_the_job(tmp_path, monkeypatch):
    store = tmp_path / "store"
    fn = kinetic.run(secret_env={"API_TOKEN": SECRET}, env={"PLAIN": "ok"})(jobfns.print_secret)
    assert SECRET not in repr(fn.spec) and SECRET not in json.dumps(fn.spec.to_dict())
    job = fn.run_async("API_TOKEN")
    # While it runs: not in any process's command line.
    cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert not any(SECRET.encode() in c for c in cmdlines)
    assert job.result(timeout=60, cleanup=False) == len(SECRET)  # the job had the value
    logs = job.logs()
    assert "the secret is ********!" in logs and "********\n" in logs
    assert SECRET not in job.to_json()
    for path in store.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    status = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id, "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert SECRET not in status.stdout
    assert json.loads(job.to_json())["spec"]["secret_env_names"] == ["API_TOKEN"]


def test_bad_secret_env_is_rejected_without_showing_it():
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.run(secret_env={"A": ["s3cr3t"]})(jobfns.add)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(kinetic.SpecError, match="not also given in env"):
        kinetic.run(secret_env={"A": "x"}, env={"A": "y"})(jobfns.add)
