"""Retrying a finished job (kinetic.client.job_retry): real runners, both stores."""

from __future__ import annotations

import json
import subprocess
import sys

import jobfns
import pytest
from helpers import wait_log

import kinetic
from kinetic import JobStatus
from kinetic.store import layout, open_store

# A command that fails unless GO is set: the retry's override is what makes it pass.
NEEDS_GO = ["sh", "-c", 'echo "go=$GO"; test -n "$GO"']


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_failed_job_is_retried_with_overrides_and_linked_both_ways(store_uri):
    first = kinetic.submit(NEEDS_GO, name="needs-go", timeout=600)
    assert first.wait(60).status == JobStatus.FAILED

    second = first.retry(env={"GO": "yes"}, timeout=120)
    assert second.job_id != first.job_id and second.job_id.startswith("needs-go-")
    assert second.retry_of == first.job_id and second.command == first.command
    assert second.spec["timeout"] == 120 and second.spec["name"] == "needs-go"
    assert second.payload_sha256 == first.payload_sha256  # the same payload, copied
    state = second.wait(60)
    assert state.status == JobStatus.SUCCEEDED, state
    assert second.logs() == "go=yes\n"
    assert first.retried_as() == [second.job_id]
    # The link survives in the records: a fresh attach sees both ends.
    assert kinetic.attach(second.job_id).retry_of == first.job_id
    assert kinetic.attach(first.job_id).retried_as() == [second.job_id]
    # The original's evidence is untouched.
    assert first.status() == JobStatus.FAILED and first.logs() == "go=\n"


def test_a_cancelled_function_job_is_retried(store_uri, tmp_path):
    go = tmp_path / "go"
    first = kinetic.run(name="waiter")(jobfns.print_then_wait_for_file).run_async(str(go), 300)
    wait_log(first, "started", timeout=60)
    assert first.cancel(timeout=60).status == JobStatus.CANCELLED

    second = first.retry()
    go.touch()
    assert second.result(timeout=60, cleanup=False) == "ok"
    assert second.retry_of == first.job_id and first.retried_as() == [second.job_id]
    # A retry of a retry chains on.
    third = second.retry(force=True)
    assert third.retry_of == second.job_id
    assert third.result(timeout=60) == "ok"


def test_refusals_say_why_and_create_nothing(store_uri, tmp_path):
    done = kinetic.run()(jobfns.env_value).run_async("GO")
    assert done.result(timeout=60, cleanup=False) is None
    before = set(open_store(store_uri).list_children(layout.JOBS))

    with pytest.raises(kinetic.RetryRefusedError, match="it succeeded; force=True"):
        done.retry()
    with pytest.raises(kinetic.SpecError, match="invalid option='colour'"):
        done.retry(colour="red")
    with pytest.raises(kinetic.SpecError, match="unchanged on a retry"):
        done.retry(files=[__file__])
    with pytest.raises(kinetic.SpecError, match=r"invalid timeout=-1"):
        done.retry(timeout=-1, force=True)
    assert set(open_store(store_uri).list_children(layout.JOBS)) == before

    # force: the function's payload runs again, with the override.
    again = done.retry(force=True, env={"GO": "from the retry"})
    assert again.result(timeout=60, cleanup=False) == "from the retry"

    # Still running: refused.
    waiting = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(tmp_path / "x"), 300)
    with pytest.raises(kinetic.RetryRefusedError, match=r"still (PENDING|RUNNING)"):
        waiting.retry()
    waiting.cancel()


def test_a_cleaned_up_payload_is_named(store_uri):
    job = kinetic.submit(["false"])
    assert job.wait(60).status == JobStatus.FAILED
    store = open_store(store_uri)
    key = layout.payload_key(job.job_id)
    if store_uri.startswith("gs://"):  # the payload alone, as a partial cleanup leaves it
        store.bucket.blob(store._name(key)).delete()
    else:
        store._path(key).unlink()
    with pytest.raises(kinetic.RetryRefusedError, match="its payload was cleaned up"):
        job.retry()
    job.cleanup()
    with pytest.raises(kinetic.RetryRefusedError, match="were cleaned up at 20"):
        job.retry()


def test_secret_values_must_be_given_again(store_uri):
    job = kinetic.submit(["sh", "-c", "test ${#TOKEN} -eq 6"], secret_env={"TOKEN": "wrong"})
    assert job.wait(60).status == JobStatus.FAILED
    with pytest.raises(kinetic.SpecError, match="the values of TOKEN again"):
        job.retry()
    again = job.retry(secret_env={"TOKEN": "s3cret"})
    assert again.wait(60).status == JobStatus.SUCCEEDED
    assert "s3cret" not in json.dumps(again.to_dict())


def test_cli_retry_and_status_show_the_links(tmp_path):
    first = kinetic.submit(NEEDS_GO, timeout=600)
    assert first.wait(60).status == JobStatus.FAILED

    out = cli("jobs", "retry", first.job_id, "--timeout", "90", "--memory", "1Gi", "-o", "json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["retry_of"] == first.job_id
    assert answer["overrides"] == {"timeout": 90.0, "memory": "1Gi"}
    second = kinetic.attach(answer["job_id"])
    assert second.spec["timeout"] == 90 and second.spec["memory"]["request"] == "1Gi"
    assert second.wait(60).status == JobStatus.FAILED  # no GO: it fails again

    text = cli("jobs", "status", first.job_id).stdout
    assert f"retried as: {second.job_id}" in text.replace("  ", " ").replace("  ", " ")
    status = json.loads(cli("jobs", "status", second.job_id, "-o", "json").stdout)
    assert status["retry_of"] == first.job_id and status["retried_as"] == []

    ok = kinetic.submit(["true"])
    assert ok.wait(60).status == JobStatus.SUCCEEDED
    refused = cli("jobs", "retry", ok.job_id)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert cli("jobs", "retry", ok.job_id, "--force").returncode == 0
    missing = cli("jobs", "retry", "no-such-job")
    assert missing.returncode == 3
