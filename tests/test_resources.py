"""Resources: quantities validated up front; memory and cpu_cores honoured locally."""

from __future__ import annotations

import os

import jobfns
import pytest

import kinetic
from kinetic import SpecError
from kinetic.k8s.kineticjob import build_kineticjob
from kinetic.spec.resources import quantity_value


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2), ("500m", 0.5), ("1.5", 1.5), ("4Gi", 4 * 2**30), ("512Mi", 512 * 2**20),
     ("1G", 10**9), ("1e3", 1000)],
)  # fmt: skip
def test_quantities(text, value):
    assert quantity_value(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"memory": "lots"}, "memory"),
        ({"memory": "512m"}, "memory"),  # millibytes: surely meant Mi
        ({"memory": "0"}, "memory"),
        ({"cpu": "-1"}, "cpu"),
        ({"cpu": {"request": "2", "limit": "1"}}, "cpu"),
        ({"cpu": {"minimum": "1"}}, "cpu"),
        ({"ephemeral_storage": "10 Gi"}, "ephemeral_storage"),
        ({"cpu_cores": "zero"}, "cpu_cores"),
    ],
)
def test_bad_resources_rejected_when_decorating(options, option):
    with pytest.raises(SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    assert info.value.option == option


def test_resources_reach_the_kineticjob():
    spec = kinetic.JobSpec(cpu={"request": "500m", "limit": "2"}, memory="4Gi",
                           ephemeral_storage="10Gi")  # fmt: skip
    kj = build_kineticjob("x-1", function="f", store="gs://b", payload_sha256="a" * 64,
                          spec=spec.to_dict())  # fmt: skip
    assert kj["spec"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "4Gi", "ephemeral-storage": "10Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "10Gi"},
    }


@pytest.mark.parametrize("options", [{"cpu": "2"}, {"ephemeral_storage": "1Gi"}])
def test_local_backend_refuses_what_it_cannot_honour(options, tmp_path, monkeypatch):
    # The backend is known when decorating (configured, or given): refused there.
    with pytest.raises(SpecError, match="local backend cannot honour"):
        kinetic.run(**options)(jobfns.add)
    with pytest.raises(SpecError, match="local backend cannot honour"):
        kinetic.run(backend="local", **options)(jobfns.add)
    # Configured to kubernetes when decorating, local by the call: refused at submission.
    monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
    fn = kinetic.run(**options)(jobfns.add)
    monkeypatch.setenv("KINETIC_BACKEND", "local")
    with pytest.raises(SpecError, match="local backend cannot honour"):
        fn.run_async(1, 2)  # before creating anything
    assert kinetic.list_jobs() == []


def test_memory_limit_exceeded_is_oomkilled():
    job = kinetic.run(memory="100Mi")(jobfns.hog_memory).run_async(300)
    state = job.wait(60)
    assert (state.status, state.reason) == (kinetic.JobStatus.FAILED, "OOMKilled")
    assert "memory limit of 100Mi" in state.message and state.exit_code == 137
    with pytest.raises(kinetic.JobFailedError, match="OOMKilled"):
        job.result()
    within = kinetic.run(memory="400Mi")(jobfns.hog_memory).run_async(50)
    assert within.result(timeout=60) == 50 * 2**20


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux affinity")
def test_cpu_cores_pin_the_job():
    assert kinetic.run(cpu_cores="0")(jobfns.allowed_cores).run_async().result(timeout=60) == [0]
    with pytest.raises(SpecError, match="cores this machine has"):
        kinetic.run(cpu_cores="0-4095")(jobfns.allowed_cores).run_async()
