"""The operator's Job create survives a failure of any kind, not only the API server's
refusals: a connection reset before the request reached the server (nothing created), or
after it (the Job created, the answer lost). Either way the job gets its one Job and its
phase. The resets are injected at the kubernetes client's HTTP transport, in the operator
process (transport_faults.py); the operator's code runs unchanged."""

from __future__ import annotations

from pathlib import Path

import jobfns
import pytest
from kubernetes import client

import kinetic
from kinetic import JobStatus

from .cluster_fixtures import run_operator

pytestmark = pytest.mark.k8s

TRANSPORT_FAULTS = Path(__file__).with_name("transport_faults.py")


@pytest.fixture
def resets(tmp_path) -> Path:
    return tmp_path / "resets.log"


@pytest.fixture  # per test: the faults name the test's namespace
def operator(
    control_plane, sim_node, release, release_namespace, shared_root, tmp_path, namespace, resets
):  # fmt: skip
    # The Job of an `add` job: reset before sending; of a `train` job: after.
    jobs = f"POST /apis/batch/v1/namespaces/{namespace}/jobs"
    job_id = '"kinetic.dev/job-id": "{}-'
    faults = [f"before {jobs} {job_id.format('add')}", f"after {jobs} {job_id.format('train')}"]
    env = {"KINETIC_TEST_RESETS": ";".join(faults),
           "KINETIC_TEST_RESETS_LOG": str(resets)}  # fmt: skip
    with run_operator(control_plane, release, release_namespace, shared_root, tmp_path,
                      env=env, wrapper=[str(TRANSPORT_FAULTS)]) as proc:  # fmt: skip
        yield proc


def jobs_of(api, namespace, job_id) -> list[str]:
    found = client.BatchV1Api(api).list_namespaced_job(
        namespace, label_selector=f"kinetic.dev/job-id={job_id}"
    )
    return sorted(j.metadata.name for j in found.items)


def test_a_connection_reset_on_the_job_create_is_survived(kube, namespace, operator, resets):
    """Reset before the request was sent: the retry creates the Job (it used to take the
    Job for created, and the job stayed without a phase). Reset after it was served: the
    Job exists, the next sync sees it (or a retry's create finds it, 409)."""
    jobs = [
        ("before", kinetic.run()(jobfns.add), (1, 2), 3),
        ("after", kinetic.run()(jobfns.train), (1,), {"final_loss": 0.123}),
    ]
    for n, (when, fn, args, expected) in enumerate(jobs, start=1):
        job = fn.run_async(*args)
        assert job.result(timeout=90, cleanup=False) == expected, operator.tail()
        assert job.state().status == JobStatus.SUCCEEDED
        assert jobs_of(kube, namespace, job.job_id) == [job.job_id]  # one Job, not two
        injected = resets.read_text().splitlines()
        assert injected[n - 1] == f"{when} POST /apis/batch/v1/namespaces/{namespace}/jobs"
        log = operator.log_path.read_text()
        assert f"job {namespace}/{job.job_id}: ProtocolError" in log, log
    assert "trying again" in log
