"""Retry and the queue on the slurm backend (the real single-node SLURM cluster)."""

from __future__ import annotations

import jobfns
from helpers import wait_for, wait_log

import kinetic
from kinetic import JobStatus
from kinetic.client.job_queue import queue

NEEDS_GO = ["sh", "-c", 'echo "go=$GO"; test -n "$GO"']


def test_a_failed_job_is_retried_through_sbatch(slurm, store_uri):
    first = kinetic.submit(NEEDS_GO)
    assert first.wait(120).status == JobStatus.FAILED
    second = first.retry(env={"GO": "yes"}, timeout=300)
    assert second.backend == "slurm" and second.retry_of == first.job_id
    assert second.wait(120).status == JobStatus.SUCCEEDED
    assert second.logs() == "go=yes\n" and first.retried_as() == [second.job_id]


def test_the_queue_shows_slurms_reason(slurm, tmp_path):
    marker = tmp_path / "release"
    holder = kinetic.run(accelerator="l4")(jobfns.print_then_wait_for_file).run_async(
        str(marker), 300
    )
    wait_log(holder, "started", timeout=120)
    waiting = kinetic.run(accelerator="l4")(jobfns.add).run_async(1, 1)
    wait_for(lambda: "Resources" in (waiting.state().message or ""), timeout=60,
             what="PENDING (Resources)")  # fmt: skip
    (entry,) = queue()
    assert entry.job_id == waiting.job_id and entry.backend == "slurm"
    assert entry.why.startswith("Queued: ") and "Resources" in entry.why
    marker.touch()
    assert waiting.result(timeout=120) == 2
    assert holder.result(timeout=120) == "ok"
