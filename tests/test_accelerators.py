"""The accelerator registry: parsing, canonical forms, errors and Kubernetes scheduling."""

from __future__ import annotations

import json

import pytest

from kinetic.model.errors import SpecError
from kinetic.spec.accelerators import (
    Accelerator,
    LabelMap,
    Scheduling,
    k8s_scheduling,
    known_accelerators,
    parse_accelerator,
)


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [
        ("nvidia-l4", "nvidia-l4", 1),
        ("l4", "nvidia-l4", 1),
        ("l4x2", "nvidia-l4", 2),
        ("nvidia-l4x4", "nvidia-l4", 4),
        ("  L4X8 ", "nvidia-l4", 8),
        ("t4", "nvidia-tesla-t4", 1),
        ("nvidia-tesla-t4x2", "nvidia-tesla-t4", 2),
        ("v100x8", "nvidia-tesla-v100", 8),
        ("p100", "nvidia-tesla-p100", 1),
        ("p4", "nvidia-tesla-p4", 1),
        ("a100", "nvidia-tesla-a100", 1),
        ("a100x16", "nvidia-tesla-a100", 16),
        ("nvidia-tesla-a100", "nvidia-tesla-a100", 1),
        ("a100-80gb", "nvidia-a100-80gb", 1),
        ("a100-80gbx8", "nvidia-a100-80gb", 8),
        ("NVIDIA-A100-80GB", "nvidia-a100-80gb", 1),
        ("h100", "nvidia-h100-80gb", 1),
        ("h100x8", "nvidia-h100-80gb", 8),
        ("nvidia-h100-80gb", "nvidia-h100-80gb", 1),
        ("h100-mega", "nvidia-h100-mega-80gb", 1),
        ("h100-megax8", "nvidia-h100-mega-80gb", 8),
        ("nvidia-h100-mega-80gb", "nvidia-h100-mega-80gb", 1),
    ],
)
def test_gpu_names_aliases_counts_and_case(text: str, name: str, count: int) -> None:
    acc = parse_accelerator(text)
    assert (acc.kind, acc.name, acc.count, acc.topology) == ("gpu", name, count, None)


@pytest.mark.parametrize(
    ("text", "name", "chips", "topology", "spec"),
    [
        ("tpu-v5e-1", "tpu-v5-lite-podslice", 1, "1x1", "tpu-v5e-1"),
        ("v5e-4", "tpu-v5-lite-podslice", 4, "2x2", "tpu-v5e-4"),
        ("tpu-v5e-8", "tpu-v5-lite-podslice", 8, "2x4", "tpu-v5e-8"),
        ("v5litepod-8", "tpu-v5-lite-podslice", 8, "2x4", "tpu-v5e-8"),
        ("V5LITEPOD-1", "tpu-v5-lite-podslice", 1, "1x1", "tpu-v5e-1"),
        ("tpu-v6e-4", "tpu-v6e-slice", 4, "2x2", "tpu-v6e-4"),
        ("v6e-8", "tpu-v6e-slice", 8, "2x4", "tpu-v6e-8"),
        ("v4-8", "tpu-v4-podslice", 4, "2x2x1", "tpu-v4-8"),
        ("tpu-v4-8", "tpu-v4-podslice", 4, "2x2x1", "tpu-v4-8"),
        ("v5p-8", "tpu-v5p-slice", 4, "2x2x1", "tpu-v5p-8"),
    ],
)
def test_tpu_names(text: str, name: str, chips: int, topology: str, spec: str) -> None:
    acc = parse_accelerator(text)
    assert (acc.kind, acc.name, acc.count, acc.topology, acc.spec) == (
        "tpu",
        name,
        chips,
        topology,
        spec,
    )


def test_cpu() -> None:
    acc = parse_accelerator(" CPU ")
    assert (acc.kind, acc.name, acc.count, acc.topology, acc.spec) == ("cpu", "cpu", 0, None, "cpu")


@pytest.mark.parametrize(
    "text",
    ["cpu", "l4", "l4x2", "a100x16", "a100-80gbx8", "h100-megax8", "v5litepod-8", "v4-8", "v6e-1"],
)
def test_canonical_spec_round_trips(text: str) -> None:
    acc = parse_accelerator(text)
    assert parse_accelerator(acc.spec) == acc
    assert str(acc) == acc.spec
    data = json.loads(json.dumps(acc.to_dict()))
    assert Accelerator.from_dict(data) == acc
    assert parse_accelerator(acc) is acc


def test_canonical_spec_forms() -> None:
    assert parse_accelerator("l4").spec == "nvidia-l4"
    assert parse_accelerator("L4x2").spec == "nvidia-l4x2"
    assert parse_accelerator("a100-80gbx8").spec == "nvidia-a100-80gbx8"


def test_from_dict_ignores_unknown_keys_and_keeps_unknown_names() -> None:
    # A newer client may send a GPU this version does not know; the fields still schedule it.
    data = {"kind": "gpu", "name": "nvidia-future", "count": 2, "spec": "nvidia-futurex2", "x": 1}
    acc = Accelerator.from_dict(data)
    assert acc.name == "nvidia-future" and acc.count == 2
    assert k8s_scheduling(acc).limits == {"nvidia.com/gpu": "2"}
    assert Accelerator.from_dict({"spec": "l4x2"}) == parse_accelerator("l4x2")


@pytest.mark.parametrize("text", ["", "gpu", "tesla", "nvidia-l5", "rtx4090", "tpu", "v3-8"])
def test_unknown_names_list_the_known_ones(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_accelerator(text)
    assert err.value.option == "accelerator"
    assert err.value.value == text
    for known in ("cpu", "nvidia-l4", "a100-80gb", "h100", "tpu-v5e-8", "tpu-v4-8"):
        assert known in err.value.accepted
    assert "nvidia-l4" in str(err.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(SpecError):
        parse_accelerator(4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("l4x3", "1, 2, 4, 8"),
        ("l4x16", "1, 2, 4, 8"),
        ("l4x0", "1, 2, 4, 8"),
        ("a100x32", "1, 2, 4, 8, 16"),
        ("a100-80gbx16", "1, 2, 4, 8"),
    ],
)
def test_bad_gpu_counts_say_which_are_allowed(text: str, allowed: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_accelerator(text)
    assert allowed in err.value.accepted
    assert "counts allowed" in err.value.accepted


@pytest.mark.parametrize(
    ("text", "allowed"),
    [("v5e-3", "1, 4, 8"), ("v4-4", "8"), ("v4-7", "8"), ("v5p-2", "8"), ("v6e-2", "1, 4, 8")],
)
def test_bad_tpu_sizes_say_which_are_allowed(text: str, allowed: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_accelerator(text)
    assert f"sizes allowed (single-host): {allowed}" in err.value.accepted


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("tpu-v5e-16", "4x4, 16 chips on 4 hosts"),
        ("v5litepod-256", "16x16, 256 chips on 64 hosts"),
        ("v4-16", "2x2x2, 8 chips on 2 hosts"),
        ("v6e-64", "8x8"),
    ],
)
def test_multi_host_tpu_slices_are_rejected_explicitly(text: str, detail: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_accelerator(text)
    assert "multi-host TPU slices are not supported yet" in err.value.accepted
    assert detail in err.value.accepted


def test_known_accelerators() -> None:
    known = known_accelerators()
    assert known[0] == "cpu"
    assert any(k.startswith("nvidia-l4 ") for k in known)
    assert {"tpu-v5e-1", "tpu-v5e-4", "tpu-v5e-8", "tpu-v4-8", "tpu-v5p-8", "tpu-v6e-4"} <= set(
        known
    )
    # Every listed TPU name parses.
    for name in known:
        if name.startswith("tpu-"):
            assert parse_accelerator(name).spec == name


# --- scheduling ---------------------------------------------------------------------------


def test_cpu_schedules_anywhere() -> None:
    assert k8s_scheduling(parse_accelerator("cpu")) == Scheduling({}, [], {})


def test_gpu_scheduling_on_gke() -> None:
    s = k8s_scheduling(parse_accelerator("a100-80gbx4"))
    assert s.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"}
    assert s.limits == {"nvidia.com/gpu": "4"}
    assert s.tolerations == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_tpu_scheduling_on_gke() -> None:
    s = k8s_scheduling(parse_accelerator("v5litepod-8"))
    assert s.node_selector == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x4",
    }
    assert s.limits == {"google.com/tpu": "8"}
    assert s.tolerations == [
        {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    v4 = k8s_scheduling("tpu-v4-8")
    assert v4.node_selector["cloud.google.com/gke-tpu-topology"] == "2x2x1"
    assert v4.limits == {"google.com/tpu": "4"}


def test_scheduling_with_a_label_map_for_another_cluster() -> None:
    label_map = {
        "gpu_label": "nvidia.com/gpu.product",
        "gpu_values": {"l4": "NVIDIA-L4", "nvidia-h100-80gb": "NVIDIA-H100-80GB-HBM3"},
        "gpu_taint": None,
        "node_selector": {"pool": "accel"},
    }
    s = k8s_scheduling(parse_accelerator("l4x2"), label_map)
    assert s.node_selector == {"pool": "accel", "nvidia.com/gpu.product": "NVIDIA-L4"}
    assert s.limits == {"nvidia.com/gpu": "2"}
    assert s.tolerations == []
    # A GPU without a mapped value keeps its canonical name.
    t4 = k8s_scheduling("t4", label_map)
    assert t4.node_selector["nvidia.com/gpu.product"] == "nvidia-tesla-t4"
    # A cluster with one GPU type and no label at all.
    plain = k8s_scheduling("l4", {"gpu_label": None, "gpu_resource": "amd.com/gpu"})
    assert plain.node_selector == {}
    assert plain.limits == {"amd.com/gpu": "1"}


def test_tpu_label_map() -> None:
    lm = LabelMap.from_mapping(
        {
            "tpu_accelerator_label": "example.com/tpu",
            "tpu_topology_label": None,
            "tpu_values": {"tpu-v6e-slice": "v6e"},
            "tpu_resource": "example.com/tpu-chip",
            "tpu_taint": "example.com/tpu",
        }
    )
    s = k8s_scheduling(parse_accelerator("v6e-4"), lm)
    assert s.node_selector == {"example.com/tpu": "v6e"}
    assert s.limits == {"example.com/tpu-chip": "4"}
    assert s.tolerations[0]["key"] == "example.com/tpu"


def test_label_map_rejects_unknown_keys() -> None:
    with pytest.raises(SpecError) as err:
        k8s_scheduling("l4", {"gpu_lable": "x"})
    assert "gpu_label" in err.value.accepted


def test_spot_adds_the_spot_selector_and_toleration() -> None:
    s = k8s_scheduling(parse_accelerator("l4"), spot=True)
    assert s.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4",
                               "cloud.google.com/gke-spot": "true"}  # fmt: skip
    spot = {"key": "cloud.google.com/gke-spot", "operator": "Exists", "effect": "NoSchedule"}
    assert spot in s.tolerations and len(s.tolerations) == 2
    cpu = k8s_scheduling(parse_accelerator("cpu"), {"spot_label": "pool", "spot_value": "spot",
                                                    "spot_taint": None}, spot=True)  # fmt: skip
    assert cpu == Scheduling({"pool": "spot"}, [], {})


def test_spot_suffix_and_option() -> None:
    import kinetic
    from kinetic.k8s.job_manifest import OperatorConfig, build_job
    from kinetic.k8s.kineticjob import build_kineticjob

    spec = kinetic.JobSpec(accelerator="l4:spot")
    assert (spec.accelerator, spec.spot) == ("nvidia-l4", True)
    assert kinetic.JobSpec(spot=True).spot and not kinetic.JobSpec().spot
    with pytest.raises(kinetic.SpecError) as info:
        kinetic.JobSpec(spot="yes")
    assert info.value.option == "spot"
    with pytest.raises(kinetic.SpecError):
        kinetic.JobSpec(spot=True, backend="slurm")
    kj = build_kineticjob("j-1", function="f", store="file:///s", payload_sha256="0" * 64,
                          spec=spec.to_dict())  # fmt: skip
    kj["metadata"].setdefault("uid", "u")
    assert kj["spec"]["spot"] is True
    template = build_job(kj, OperatorConfig())["spec"]["template"]
    pod = template["spec"]
    assert pod["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    assert any(t["key"] == "cloud.google.com/gke-spot" for t in pod["tolerations"])
    # The pods say they are on spot: a node shutdown under them is then a preemption.
    assert template["metadata"]["labels"]["kinetic.dev/spot"] == "true"
    plain = build_kineticjob("j-2", function="f", store="file:///s", payload_sha256="0" * 64,
                             spec=kinetic.JobSpec(accelerator="l4").to_dict())  # fmt: skip
    plain["metadata"].setdefault("uid", "u")
    labels = build_job(plain, OperatorConfig())["spec"]["template"]["metadata"]["labels"]
    assert "kinetic.dev/spot" not in labels
