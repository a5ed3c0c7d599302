"""The typed shapes of stored options stay true: ``SpecRecord`` (kinetic/model/spec_record.py)
has exactly the keys ``JobSpec.to_dict()`` writes, and ``KineticJobSpec``/``KineticJobStatus``
(kinetic/k8s/kineticjob_body.py) exactly the properties of the chart's CRD. A new option
added to one and not the other fails here, not in a reader that mypy could not check."""

from __future__ import annotations

from pathlib import Path
from typing import get_type_hints

import yaml

from kinetic.k8s.kineticjob import build_kineticjob
from kinetic.k8s.kineticjob_body import KineticJobSpec, KineticJobStatus
from kinetic.model.spec_record import SpecRecord
from kinetic.spec.job_spec import JobSpec

CRD = Path(__file__).resolve().parents[1] / "charts/kinetic/crds/kineticjobs.yaml"


def crd_properties(part: str) -> set[str]:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"][part]["properties"])


def test_spec_record_has_every_key_to_dict_writes() -> None:
    assert set(JobSpec().to_dict()) == set(get_type_hints(SpecRecord))


def test_kineticjob_spec_is_the_crd_spec() -> None:
    assert set(get_type_hints(KineticJobSpec)) == crd_properties("spec")


def test_kineticjob_status_is_the_crd_status() -> None:
    assert set(get_type_hints(KineticJobStatus)) == crd_properties("status")


def test_a_built_kineticjob_uses_only_typed_keys() -> None:
    spec = JobSpec(
        backend="kubernetes", store="gs://bucket/p", image="img:1", timeout=60, retries=2,
        env={"A": "1"},
        ports=["web:8080"], memory="1Gi", volumes=["data:/data"], network="n1",
    ).to_dict()  # fmt: skip
    body = build_kineticjob(
        "j-1", function="m.f", store="gs://bucket/p", payload_sha256="0", spec=spec
    )
    assert set(body["spec"]) <= set(get_type_hints(KineticJobSpec))


def test_an_older_record_without_newer_keys_still_reads() -> None:
    """A TypedDict is a view of plain JSON: an old handle.json lacks newer keys."""
    from kinetic.model.retry_policy import RetryPolicy

    old: SpecRecord = {"accelerator": "cpu", "timeout": None}
    assert RetryPolicy.from_spec(old) == RetryPolicy()
