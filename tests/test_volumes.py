"""Runtimes, volumes and networks without a cluster: validation (at decoration, naming the
option, the value and what is accepted), the local backend's refusal, the KineticJob, the
operator's Job and NetworkPolicy, and its refusal of an unknown runtime."""

from __future__ import annotations

import json

import jobfns
import jsonschema
import kubernetes_validate
import pytest
from chart_support import kineticjob, openapi_schema
from click.testing import CliRunner
from kinetic_operator.decisions import decide, needs_runtime_table, status_patch
from kubernetes_validate.utils import all_versions

import kinetic
from kinetic import SpecError
from kinetic.cli import main
from kinetic.cli.submit_commands import volume_options
from kinetic.k8s.job_manifest import OperatorConfig, build_job
from kinetic.k8s.pod_volumes import build_network_policy
from kinetic.k8s.runtime_table import Runtime, RuntimeTable, parse_table

SHA = "a" * 64
OLDEST_SCHEMAS = all_versions()[0]  # kubernetes-validate has none older (the API is the same)


@pytest.mark.parametrize(
    ("options", "option", "accepted"),
    [
        ({"runtime": "py/312"}, "runtime", "runtime name"),
        ({"runtime": ""}, "runtime", "runtime name"),
        ({"runtime": 3}, "runtime", "runtime name"),
        ({"runtime": "py312", "image": "x:1"}, "runtime", "no image= as well"),
        ({"network": "Team_A"}, "network", "RFC 1123"),
        ({"network": "a" * 64}, "network", "RFC 1123"),
        ({"volumes": "data:/data"}, "volumes", "a list of"),
        ({"volumes": ["data"]}, "volumes", "'claim:/abs/path'"),
        ({"volumes": ["data:/data:rx"]}, "volumes", "'claim:/abs/path:ro'"),
        ({"volumes": ["data:relative"]}, "volumes", "absolute"),
        ({"volumes": ["data:/a/../b"]}, "volumes", "normalised"),
        ({"volumes": ["data:/data/"]}, "volumes", "normalised"),
        ({"volumes": ["Data:/data"]}, "volumes", "RFC 1123"),
        ({"volumes": ["data:/"]}, "volumes", "does not hide /tmp"),
        ({"volumes": ["data:/tmp"]}, "volumes", "does not hide /tmp"),
        ({"volumes": ["data:/home"]}, "volumes", "does not hide /home/kinetic"),
        ({"volumes": ["data:/usr/lib/x"]}, "volumes", "system directory /usr"),
        ({"volumes": ["data:/proc"]}, "volumes", "system directory /proc"),
        ({"volumes": ["kinetic-store:/s"]}, "volumes", "Kinetic's own volume"),
        ({"volumes": ["data:/a", "data:/b"]}, "volumes", "each claim or scratch name once"),
        ({"volumes": ["a:/data", "b:/data"]}, "volumes", "each mount path once"),
        ({"volumes": [{"name": "s", "size": "1Gi"}]}, "volumes", "'type': 'memory'"),
        ({"volumes": [{"name": "s", "size": "1Gi", "type": "disk"}]}, "volumes", "'memory'"),
        ({"volumes": [{"type": "memory", "size": "1Gi"}]}, "volumes", "RFC 1123"),
        ({"volumes": [{"type": "memory", "name": "s"}]}, "volumes", "quantity"),
        ({"volumes": [{"type": "memory", "name": "s", "size": "lots"}]}, "volumes", "quantity"),
        ({"volumes": [{"type": "memory", "name": "s", "size": "100m"}]}, "volumes", "quantity"),
        (
            {"volumes": [{"type": "memory", "name": "s", "size": "1Gi", "ro": 1}]},
            "volumes",
            "memory keys",
        ),
        (
            {"volumes": [{"type": "memory", "name": "s", "size": "1Gi", "path": "mnt"}]},
            "volumes",
            "absolute",
        ),
        (
            {"volumes": [{"type": "claim", "claim": "d", "path": "/d", "read_only": "yes"}]},
            "volumes",
            "True or False",
        ),
        ({"volumes": [3]}, "volumes", "a list of"),
    ],
)
def test_bad_values_are_refused_at_decoration(options, option, accepted, tmp_path):
    with pytest.raises(SpecError) as info:
        kinetic.run(**options)(jobfns.add)
    assert info.value.option == option
    assert f"invalid {option}=" in str(info.value) and accepted in str(info.value)
    assert not (tmp_path / "store").exists()


def test_volumes_are_kept_in_one_json_form_that_round_trips():
    spec = kinetic.JobSpec(
        runtime="py3.12",
        network="team-a",
        volumes=["data:/data", "models:/models:ro", {"type": "memory", "name": "scratch",
                                                     "size": "2Gi"}],
    )  # fmt: skip
    assert spec.volumes == [
        {"type": "claim", "name": "data", "claim": "data", "path": "/data", "read_only": False},
        {"type": "claim", "name": "models", "claim": "models", "path": "/models",
         "read_only": True},
        {"type": "memory", "name": "scratch", "size": "2Gi", "path": "/mnt/scratch"},
    ]  # fmt: skip
    again = kinetic.JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert kinetic.JobSpec(volumes=[]).volumes is None


def test_a_runtime_keeps_the_configured_default_image_out(monkeypatch):
    monkeypatch.setenv("KINETIC_IMAGE", "registry.example/default:1")
    assert kinetic.JobSpec(runtime="py312").resolved().image is None
    assert kinetic.JobSpec().resolved().image == "registry.example/default:1"


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"runtime": "py312"}, "runtime"),
        ({"volumes": ["data:/data"]}, "volumes"),
        ({"volumes": [{"type": "memory", "name": "s", "size": "64Mi"}]}, "volumes"),
        ({"network": "team-a"}, "network"),
    ],
)
def test_local_backend_refuses_them_before_creating_anything(options, option, monkeypatch):
    with pytest.raises(SpecError) as info:  # valid options the local backend cannot honour:
        kinetic.run(**options)(jobfns.add)  # refused when decorating (the backend is known)
    assert info.value.option == option
    monkeypatch.setenv("KINETIC_BACKEND", "kubernetes")
    fn = kinetic.run(**options)(jobfns.add)
    monkeypatch.setenv("KINETIC_BACKEND", "local")  # local only by the time of the call:
    with pytest.raises(SpecError) as info:
        fn.run_async(1, 2)  # refused at submission, before anything is created
    assert info.value.option == option
    assert "local backend cannot honour it" in str(info.value)
    assert "backend='kubernetes'" in str(info.value)
    assert kinetic.list_jobs() == []


OPTIONS = {
    "runtime": "torch",
    "network": "team-a",
    "volumes": ["data:/data:ro", {"type": "memory", "name": "scratch", "size": "1Gi"}],
}
TORCH = Runtime("torch", "registry.example/torch:2", "PyTorch 2")
TABLE = RuntimeTable("ConfigMap kinetic/kinetic-runtimes", {"torch": TORCH})


def test_kineticjob_fields_pass_the_crd_schema():
    kj = kineticjob(**OPTIONS)
    assert kj["spec"]["runtime"] == "torch" and kj["spec"]["network"] == "team-a"
    assert kj["spec"]["volumes"] == [
        {"name": "data", "type": "claim", "mountPath": "/data", "claim": "data", "readOnly": True},
        {"name": "scratch", "type": "memory", "mountPath": "/mnt/scratch", "sizeLimit": "1Gi"},
    ]
    assert "image" not in kj["spec"]
    jsonschema.Draft4Validator(openapi_schema()).validate(kj)


def test_the_operators_job_mounts_labels_and_picks_the_runtime_image():
    config = OperatorConfig(file_store_host_path="/srv/kinetic")
    job = build_job(kineticjob(store="file:///srv/kinetic/store", **OPTIONS), config, TABLE)
    template = job["spec"]["template"]
    pod, (container,) = template["spec"], template["spec"]["containers"]
    assert container["image"] == "registry.example/torch:2"
    assert template["metadata"]["labels"]["kinetic.dev/network"] == "team-a"
    assert "kinetic.dev/network" not in job["metadata"]["labels"]  # the pods are the members
    assert pod["volumes"] == [
        {"name": "kinetic-store", "hostPath": {"path": "/srv/kinetic"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]
    assert container["volumeMounts"] == [
        {"name": "kinetic-store", "mountPath": "/srv/kinetic"},
        {"name": "data", "mountPath": "/data", "readOnly": True},
        {"name": "scratch", "mountPath": "/mnt/scratch"},
    ]
    kubernetes_validate.validate(job, OLDEST_SCHEMAS, strict=True)
    plain = build_job(kineticjob(), OperatorConfig(default_image="kinetic:1"))
    assert plain["spec"]["template"]["spec"]["containers"][0]["image"] == "kinetic:1"
    assert "volumes" not in plain["spec"]["template"]["spec"]


def test_network_policy_admits_only_the_networks_pods():
    policy = build_network_policy("ml", "team-a")
    assert policy["metadata"]["name"] == "kinetic-network-team-a"
    assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kinetic"
    members = {"matchLabels": {"kinetic.dev/network": "team-a"}}
    assert policy["spec"] == {
        "podSelector": members,
        "policyTypes": ["Ingress"],  # egress stays open: the runner reaches its store
        "ingress": [{"from": [{"podSelector": members}]}],
    }
    kubernetes_validate.validate(policy, OLDEST_SCHEMAS, strict=True)


def test_operator_refuses_an_unknown_runtime_and_reads_the_table_only_to_create():
    kj = kineticjob(runtime="jax")
    assert needs_runtime_table(kj, None)
    action = decide(kj, None, [], store_shared=True, runtimes=TABLE)
    reason, message = action.refuse
    assert reason == "UnknownRuntime" and "'jax'" in message and "known: torch" in message
    patch = status_patch(kj, None, [], action)
    assert (patch["phase"], patch["reason"]) == ("FAILED", "UnknownRuntime")
    assert decide(kineticjob(runtime="torch"), None, [], store_shared=True, runtimes=TABLE)
    broken = RuntimeTable("ConfigMap x/kinetic-runtimes", problem="it is malformed")
    assert "malformed" in decide(kj, None, [], store_shared=True, runtimes=broken).refuse[1]
    created = {**kj, "status": {"phase": "PENDING", "jobName": "train-abc12345"}}
    assert not needs_runtime_table(created, None)
    assert not needs_runtime_table(kineticjob(), None)


def test_runtime_table_accepts_images_or_objects_and_rejects_the_rest():
    table = parse_table('{"py312": "r/k:3.12", "torch": {"image": "r/t:2", "description": "T"}}')
    assert table == {"py312": Runtime("py312", "r/k:3.12"), "torch": Runtime("torch", "r/t:2", "T")}
    assert parse_table(None) == {} and parse_table("{}") == {}
    for bad in ('["x"]', '{"a/b": "x"}', '{"x": ""}', '{"x": {"img": "y"}}', '{"x": 3}'):
        with pytest.raises(ValueError):
            parse_table(bad)


def test_cli_volume_options():
    assert volume_options(("data:/data:ro", "scratch=1Gi", "tmp2=64Mi:/scratch")) == [
        "data:/data:ro",
        {"type": "memory", "name": "scratch", "size": "1Gi"},
        {"type": "memory", "name": "tmp2", "size": "64Mi", "path": "/scratch"},
    ]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--runtime", "py312"], "runtime"),
        (["--volume", "data:/data"], "volumes"),
        (["--network", "team-a"], "network"),
        (["--volume", "data:relative"], "volumes"),
    ],
)
def test_cli_submit_refuses_locally_with_a_usage_error(args, option):
    result = CliRunner().invoke(main, ["jobs", "submit", *args, "--", "true"])
    assert result.exit_code == 2, result.output
    assert f"invalid {option}=" in result.output
    assert kinetic.list_jobs() == []
