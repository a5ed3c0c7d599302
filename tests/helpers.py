"""Small helpers for tests that watch real processes: waiting, logging in with ssh."""

from __future__ import annotations

import getpass
import os
import subprocess
import time

import pytest

from kinetic import JobStatus

# How long a test watches for something that must NOT happen (a renewal, a second Job…)
# before asserting it did not: long enough for it to have happened several times over.
QUIET_PERIOD = 1.0


def unavailable(reason: str) -> None:
    """A test's prerequisite is missing: skip saying why, except under ``CI=true``, where
    CI must run every test and a missing prerequisite is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"unavailable in CI: {reason}")
    pytest.skip(reason)


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_status(handle, status: JobStatus, timeout=30.0):
    return wait_for(lambda: handle.status() == status, timeout, what=f"{handle.job_id} {status}")


def wait_log(handle, text: str, timeout=30.0):
    return wait_for(lambda: text in handle.logs(), timeout, what=f"{text!r} in logs")


def ssh_login(key, command: str, port: int = 2202) -> subprocess.CompletedProcess:
    """Run ``command`` over ssh on this machine's ``port`` as this user, with ``key``."""
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", str(port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         f"{getpass.getuser()}@127.0.0.1", command],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
