"""The Helm chart and the KineticJob CRD as test data: rendering (offline, through Helm's
own Go code in `helm-python-sdk`), the CRD file, and KineticJob specs good and bad.

Shared by tests/test_chart.py (offline) and tests/k8s/test_chart_k8s.py (the real API server).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "kinetic"
CRD_FILE = CHART / "crds" / "kineticjobs.yaml"

GROUP, VERSION, PLURAL = "kinetic.dev", "v1alpha1", "kineticjobs"

# Value sets the chart must handle: the defaults, a list of watched namespaces (Roles
# instead of a ClusterRole), and a non-GKE cluster (custom accelerator labels, file store).
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaces": {
        "watchNamespaces": ["team-a", "team-b"],
        "jobServiceAccount": {
            "name": "kinetic-jobs",
            "create": True,
            "annotations": {"iam.gke.io/gcp-service-account": "jobs@p.iam.gserviceaccount.com"},
        },
    },
    "custom-accelerators": {
        "acceleratorLabels": {
            "gpu_label": "nvidia.com/gpu.product",
            "gpu_values": {"l4": "NVIDIA-L4"},
            "gpu_taint": None,
            "node_selector": {"pool": "accelerators"},
        },
        "fileStore": {"hostPath": "/tmp/kinetic-store"},
        "envCache": {"enabled": True, "hostPath": "/mnt/disks/kinetic-envs"},
        "jobImage": "registry.example/kinetic-jobs:1",
        "runtimes": {
            "py312": "registry.example/kinetic:0.1.0-py3.12",
            "torch": {"image": "registry.example/torch:2", "description": "PyTorch 2"},
        },
        "image": {"repository": "registry.example/kinetic", "tag": "dev", "pullPolicy": "Always"},
        "verbose": True,
        "healthPort": 9090,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
    },
}


def render(
    values: dict[str, Any] | None = None,
    *,
    name: str = "kinetic",
    namespace: str = "kinetic-system",
) -> list[dict[str, Any]]:
    """The chart's templates rendered as `helm template` would, as a list of objects."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=name, namespace=namespace)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(
    values: dict[str, Any] | None = None, *, name: str = "kinetic", namespace: str = "default"
) -> str:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=name, namespace=namespace)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def crd() -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(CRD_FILE.read_text()) if d]
    return doc


def openapi_schema() -> dict[str, Any]:
    (version,) = crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


# -- KineticJob objects ------------------------------------------------------------------

SHA = "0123456789abcdef" * 4


def kinetic_job(name: str = "train-k3j9x2ab", **spec: Any) -> dict[str, Any]:
    """A valid KineticJob; keyword arguments replace (or, as None, remove) spec fields."""
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KineticJob",
        "metadata": {"name": name, "labels": {"kinetic.dev/job-id": name}},
        "spec": {
            "function": "examples.train:train",
            "store": "gs://bucket/prefix",
            "payloadSha256": SHA,
            "accelerator": "l4x2",
            "image": "registry.example/kinetic:0.1.0",
            "timeoutSeconds": 3600,
            "gracePeriodSeconds": 10,
            "env": [{"name": "EPOCHS", "value": "3"}, {"name": "_DEBUG", "value": "1"}],
            "ports": [
                {"name": "web", "port": 8080, "proto": "http"},
                {"name": "ssh", "port": 2202, "proto": "tcp"},
            ],
            "ssh": True,
            "cancel": False,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 2}},
            "retries": 1,
            "labels": {"team": "ml"},
            "volumes": [
                {
                    "name": "data",
                    "type": "claim",
                    "claim": "data",
                    "mountPath": "/data",
                    "readOnly": True,
                },
                {
                    "name": "scratch",
                    "type": "memory",
                    "sizeLimit": "1Gi",
                    "mountPath": "/mnt/scratch",
                },
            ],
            "network": "team-a",
        },
    }
    for key, value in spec.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return body


def minimal_job(name: str = "minimal-job") -> dict[str, Any]:
    """Only the required fields: the API server fills in the defaults."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KineticJob",
        "metadata": {"name": name},
        "spec": {"function": "f", "store": "file:///tmp/kinetic-store", "payloadSha256": SHA},
    }


# Malformed specs, each rejected by the schema (offline and by the API server), by name.
MALFORMED: dict[str, dict[str, Any]] = {
    "no payloadSha256": {"payloadSha256": None},
    "no function": {"function": None},
    "no store": {"store": None},
    "empty function": {"function": ""},
    "s3 store": {"store": "s3://bucket/prefix"},
    "relative store": {"store": "bucket/prefix"},
    "uppercase sha": {"payloadSha256": SHA.upper()},
    "short sha": {"payloadSha256": SHA[:-1]},
    "timeout 0": {"timeoutSeconds": 0},
    "timeout over 7 days": {"timeoutSeconds": 604801},
    "timeout as text": {"timeoutSeconds": "3600"},
    "negative grace": {"gracePeriodSeconds": -1},
    "grace over an hour": {"gracePeriodSeconds": 3601},
    "retries 21": {"retries": 21},
    "negative retries": {"retries": -1},
    "empty accelerator": {"accelerator": ""},
    "cancel as text": {"cancel": "yes"},
    "env not a list": {"env": {"EPOCHS": "3"}},
    "env bad name": {"env": [{"name": "1EPOCHS", "value": "3"}]},
    "env without name": {"env": [{"value": "3"}]},
    "env number value": {"env": [{"name": "EPOCHS", "value": 3}]},
    "bad quantity": {"resources": {"limits": {"memory": "lots"}}},
    "quantity as list": {"resources": {"requests": {"cpu": [1]}}},
    "label number": {"labels": {"team": 1}},
    "runtime with a slash": {"runtime": "py/312"},
    "network uppercase": {"network": "Team-A"},
    "volume of no type": {"volumes": [{"name": "x", "mountPath": "/x", "claim": "x"}]},
    "volume of an unknown type": {
        "volumes": [{"name": "x", "type": "nfs", "mountPath": "/x", "claim": "x"}]
    },
    "volume relative path": {
        "volumes": [{"name": "x", "type": "claim", "mountPath": "x", "claim": "x"}]
    },
    "volume neither claim nor size": {
        "volumes": [{"name": "x", "type": "memory", "mountPath": "/x"}]
    },
    "volume both claim and size": {
        "volumes": [
            {"name": "x", "type": "claim", "mountPath": "/x", "claim": "x", "sizeLimit": "1Gi"}
        ]
    },
    "volume bad size": {
        "volumes": [{"name": "x", "type": "memory", "mountPath": "/x", "sizeLimit": "lots"}]
    },
    "port name with a dash": {"ports": [{"name": "my-web", "port": 8080, "proto": "tcp"}]},
    "port name too long": {"ports": [{"name": "webwebwebwebwebweb", "port": 8080, "proto": "tcp"}]},
    "port 8001": {"ports": [{"name": "web", "port": 8001, "proto": "tcp"}]},
    "port 65536": {"ports": [{"name": "web", "port": 65536, "proto": "tcp"}]},
    "port sctp": {"ports": [{"name": "web", "port": 8080, "proto": "sctp"}]},
    "port without proto": {"ports": [{"name": "web", "port": 8080}]},
    "ssh as text": {"ssh": "yes"},
}

# Rejected by the API server only: jsonschema has no list-map keys, and checks formats only
# with optional packages.
MALFORMED_SERVER_ONLY: dict[str, dict[str, Any]] = {
    "duplicate env names": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
    "duplicate port names": {
        "ports": [
            {"name": "web", "port": 8080, "proto": "tcp"},
            {"name": "web", "port": 8081, "proto": "tcp"},
        ]
    },
    "cancelRequestedAt not a date-time": {"cancelRequestedAt": "yesterday"},
    "duplicate volume names": {
        "volumes": [
            {"name": "x", "type": "claim", "mountPath": "/x", "claim": "x"},
            {"name": "x", "type": "memory", "mountPath": "/y", "sizeLimit": "1Gi"},
        ]
    },
}


def malformed_job(case: str, name: str = "bad-job") -> dict[str, Any]:
    changes = {**MALFORMED, **MALFORMED_SERVER_ONLY}[case]
    return kinetic_job(name, **copy.deepcopy(changes))


def kineticjob(**options: Any) -> dict[str, Any]:
    """The KineticJob a client would create for a job with these JobSpec options, with the
    metadata the API server adds (namespace, uid, generation), for the operator's builders."""
    import kinetic
    from kinetic.k8s.kineticjob import build_kineticjob

    body = build_kineticjob(
        "train-abc12345",
        function="m.train",
        store=options.pop("store", "gs://bucket/kinetic"),
        payload_sha256="a" * 64,
        spec=kinetic.JobSpec(**options).to_dict(),
    )
    body["metadata"].update(namespace="ml", uid="uid-1", generation=1)
    return body
