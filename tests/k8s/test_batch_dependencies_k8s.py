"""A whole batch as a job's dependency on the cluster: the operator holds the dependent's
Job until the KineticBatch has ended (items it has not created yet included), passes every
item's result digest to the pod, and ends the dependent CANCELLED/DependencyFailed naming
the batch and the failed items' indexes."""

from __future__ import annotations

import batchfns
import pipelinefns
import pytest
from helpers import wait_for
from kubernetes import client

import kinetic
from kinetic import JobStatus
from kinetic.model.reasons import Reason

pytestmark = pytest.mark.k8s

WAIT = 300  # generous: the machine is shared by several test runs
run = kinetic.run()


def jobs_of(api, namespace, job_id) -> list[str]:
    found = client.BatchV1Api(api).list_namespaced_job(
        namespace, label_selector=f"kinetic.dev/job-id={job_id}"
    )
    return sorted(j.metadata.name for j in found.items)


def test_a_batch_as_an_argument_and_in_depends_on(kube, namespace):
    batch = run(batchfns.square).run_async_map([3, 1, 2, 5, 4], max_concurrent=2)
    job = run(pipelinefns.combine).run_async(batch, {"again": [batch]})
    after = run(pipelinefns.echo).run_async("after", depends_on=[batch])
    assert job.spec["depends_on"] == [batch.batch_id]
    held = job.state()  # items wait for slots: the operator has not created them all yet
    if held.status == JobStatus.PENDING and held.reason == Reason.WAITING_FOR_DEPENDENCIES:
        assert f"batch {batch.batch_id}" in held.message
    value = job.result(timeout=WAIT, cleanup=False)
    assert value["left"] == [9, 1, 4, 25, 16] and value["right"]["again"] == [[9, 1, 4, 25, 16]]
    assert after.result(timeout=WAIT, cleanup=False) == "after"
    ended = max(batch.jobs[i].state().finished for i in range(5))
    assert job.state().started >= ended and after.state().started >= ended


def test_failed_and_never_started_items_end_the_dependent(kube, namespace):
    f = run(batchfns.fail_if)
    batch = f.run_async_map([(0, [0, 2]), (1, [0, 2]), (2, [0, 2]), (3, [0, 2])],
                            max_concurrent=1, fail_fast=True)  # fmt: skip
    job = run(pipelinefns.echo).run_async(batch)
    state = job.wait(WAIT)
    assert (state.status, state.reason) == (JobStatus.CANCELLED, Reason.DEPENDENCY_FAILED)
    assert state.message.startswith(
        f"dependency batch {batch.batch_id} failed (item 0 failed; items 1, 2, 3 cancelled"
    ), state.message
    assert jobs_of(kube, namespace, job.job_id) == []  # never run: no Job


def test_held_for_a_batch_across_an_operator_restart(kube, namespace, operator):
    batch = run(pipelinefns.slow).run_async_map([(i, 6) for i in range(3)], max_concurrent=1)
    job = run(pipelinefns.echo).run_async({"all": batch})
    wait_for(lambda: job.state().reason == Reason.WAITING_FOR_DEPENDENCIES, timeout=120,
             what="the job held for the batch")  # fmt: skip
    operator.kill()  # restarted while the job waits and items are still to be created
    operator.log.close()
    operator.start()
    assert job.result(timeout=WAIT, cleanup=False) == {"all": [0, 1, 2]}
    assert job.state().started >= max(batch.jobs[i].state().finished for i in range(3))
