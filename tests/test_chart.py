"""The Helm chart and the KineticJob CRD, offline: Helm's own lint and rendering (through
`helm-python-sdk`, no helm binary), every rendered object validated against the Kubernetes
OpenAPI schemas (`kubernetes-validate --strict`), the CRD's schema checked for the rules of
a structural schema, and the RBAC checked for least privilege.

The same chart and CRD go to a real 1.20 API server in tests/k8s/test_chart_k8s.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from chart_support import (
    CHART,
    MALFORMED,
    REPO,
    SCENARIOS,
    crd,
    find,
    kinetic_job,
    malformed_job,
    minimal_job,
    notes,
    openapi_schema,
    render,
)
from kinetic_operator.heartbeat import ENV_NAMESPACE
from kubernetes_validate.utils import all_versions

from kinetic.k8s.names import OPERATOR_LEASE
from kinetic.spec.accelerators import LabelMap, k8s_scheduling

# kubernetes-validate ships schemas for recent releases only (none for 1.20, which the
# API-server tests cover): validate against its oldest and its newest.
K8S_VERSIONS = sorted({all_versions()[0], all_versions()[-1]})


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request) -> str:
    return request.param


# -- lint and render ---------------------------------------------------------------------


def test_chart_metadata():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (meta["apiVersion"], meta["name"], meta["appVersion"]) == ("v2", "kinetic", "0.1.0")


def test_lint_is_clean(scenario):
    report = helm.lint(CHART, SCENARIOS[scenario], strict=True, kube_version="v1.20.2")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not problems and not report["errors"], report


def test_values_pass_the_schema(scenario):
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(SCENARIOS[scenario])
        assert chart.schema is not None


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 2},  # unknown key: a typo must not be ignored
        {"acceleratorLabels": {"gpu_lable": "x"}},  # unknown LabelMap key
        {"acceleratorLabels": {"gpu_resource": None}},
        {"acceleratorLabels": {"node_selector": {"pool": 1}}},
        {"watchNamespaces": ["Team_A"]},
        {"watchNamespaces": "team-a"},
        {"image": {"repository": "kinetic", "pullPolicy": "Sometimes"}},
        {"fileStore": {"hostPath": "relative/dir"}},
        {"envCache": {"enabled": True, "hostPath": "relative/dir"}},
        {"envCache": {"enabled": True, "hostPath": ""}},
        {"envCache": {"enabled": "yes"}},
        {"envCache": {"enable": True}},
        {"jobServiceAccount": {"create": True}},  # creating one needs a name
        {"healthPort": 80},  # the operator is not root
        {"runtimes": {"py312": ""}},
        {"runtimes": {"py312": {"description": "no image"}}},
        {"runtimes": {"py312": {"image": "x", "tag": "y"}}},
        {"runtimes": {"py/312": "x"}},
    ],
    ids=repr,
)
def test_schema_rejects_bad_values(values):
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError):
        chart.validate_schema(values)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rendered_objects_are_valid_kubernetes(scenario, version):
    objects = render(SCENARIOS[scenario])
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_crd_is_a_valid_kubernetes_object(version):
    kubernetes_validate.validate(crd(), version, strict=True)


def test_chart_ships_the_one_crd_file():
    with helm.Chart.load(CHART) as chart:
        shipped = {c["filename"]: c for c in chart.crds}
    assert sorted(shipped) == ["kinetic/crds/kineticbatches.yaml", "kinetic/crds/kineticjobs.yaml"]
    assert yaml.safe_load(shipped["kinetic/crds/kineticjobs.yaml"]["data"]) == crd()
    batches = yaml.safe_load(shipped["kinetic/crds/kineticbatches.yaml"]["data"])
    columns = batches["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == [
        "Phase",
        "Succeeded",
        "Failed",
        "Running",
        "Total",
        "Age",
    ]
    # Nothing renders a second copy of it.
    assert not find(render(), "CustomResourceDefinition")


def test_every_object_is_labelled_and_namespaced_right():
    for obj in render(namespace="ops"):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "kinetic"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] in ("ServiceAccount", "Deployment", "Role", "RoleBinding"):
            assert obj["metadata"]["namespace"] == "ops"


# -- the operator's Deployment -----------------------------------------------------------


def operator_container(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = find(render(values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_operator_command_cluster_wide():
    c = operator_container({})
    assert c["command"] == ["kinetic", "operator", "run"]
    assert c["args"] == ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
    assert c["image"] == "kinetic:0.1.0"


def test_operator_command_per_namespace():
    c = operator_container(SCENARIOS["namespaces"])
    assert c["args"] == [
        "--namespace=team-a",
        "--namespace=team-b",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]


def test_the_cli_takes_the_charts_arguments(scenario):
    from kinetic.cli import main

    container = operator_container(SCENARIOS[scenario])
    program, *path = container["command"]
    assert program == "kinetic"  # the console script of pyproject.toml, in the image
    command = main
    for name in path:
        command = command.commands[name]
    ctx = command.make_context(" ".join(container["command"]), list(container["args"]))
    expected = SCENARIOS[scenario].get("watchNamespaces", [])
    assert list(ctx.params["namespaces"]) == expected
    assert ctx.params["all_namespaces"] is (not expected)


def test_liveness_probe_hits_kopfs_endpoint():
    c = operator_container(SCENARIOS["custom-accelerators"])
    assert "--liveness=http://0.0.0.0:9090/healthz" in c["args"]
    assert "--verbose" in c["args"]
    probe = c["livenessProbe"]["httpGet"]
    (port,) = [p for p in c["ports"] if p["name"] == probe["port"]]
    assert (probe["path"], port["containerPort"]) == ("/healthz", 9090)


def test_operator_environment_defaults():
    env = env_of(operator_container({}))
    assert env == {
        "KINETIC_DEFAULT_IMAGE": "kinetic:0.1.0",  # the operator's own image
        "KINETIC_JOB_SERVICE_ACCOUNT": "",
        "KINETIC_ACCELERATOR_LABELS": "{}",
        "KINETIC_FILE_STORE_HOST_PATH": "",
        "KINETIC_ENV_CACHE_HOST_PATH": "",  # envCache is off by default
        "KINETIC_PROGRESS_LISTEN": "0.0.0.0:8081",
        "KINETIC_PROGRESS_URL": "http://kinetic-operator.kinetic-system.svc:8081/progress",
    }
    # An empty label map is GKE's.
    assert LabelMap.from_mapping(json.loads(env["KINETIC_ACCELERATOR_LABELS"])) == LabelMap()


def test_progress_endpoint_service_and_rbac():
    objects = render({})
    (service,) = find(objects, "Service", "kinetic-operator")
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8081, "progress")
    (deployment,) = find(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    names = [p["name"] for p in operator_container({})["ports"]]
    assert names == ["health", "progress"]
    (cluster_wide,) = find(objects, "ClusterRole", "kinetic-operator-discovery")
    assert {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
            "verbs": ["create"]} in cluster_wide["rules"]  # fmt: skip
    off = render({"progress": {"enabled": False}})
    assert not find(off, "Service")
    assert "KINETIC_PROGRESS_URL" not in env_of(
        operator_container({"progress": {"enabled": False}})
    )
    (quiet,) = find(off, "ClusterRole", "kinetic-operator-discovery")
    assert all("tokenreviews" not in r["resources"] for r in quiet["rules"])


def test_operator_environment_from_values():
    values = SCENARIOS["custom-accelerators"]
    env = env_of(operator_container(values))
    assert env["KINETIC_DEFAULT_IMAGE"] == "registry.example/kinetic-jobs:1"
    assert env["KINETIC_FILE_STORE_HOST_PATH"] == "/tmp/kinetic-store"
    # The JSON reaches kinetic.spec.accelerators as the values said, nulls included.
    labels = json.loads(env["KINETIC_ACCELERATOR_LABELS"])
    assert labels == values["acceleratorLabels"]
    sched = k8s_scheduling("l4x2", labels)
    assert sched.node_selector == {"nvidia.com/gpu.product": "NVIDIA-L4", "pool": "accelerators"}
    assert sched.tolerations == []
    assert sched.limits == {"nvidia.com/gpu": "2"}


def test_runtime_table_is_one_configmap_the_code_reads(scenario):
    from kinetic.k8s.runtime_table import CONFIGMAP, KEY, Runtime, parse_table

    values = SCENARIOS[scenario]
    (cm,) = find(render(values, namespace="ops"), "ConfigMap")
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == (CONFIGMAP, "ops")
    table = parse_table(cm["data"][KEY])
    expected = values.get("runtimes", {})
    assert sorted(table) == sorted(expected)
    for name, entry in expected.items():
        image = entry if isinstance(entry, str) else entry["image"]
        assert table[name].image == image
    # The operator gets no copy of it in its environment: the ConfigMap is the one source.
    assert not any("RUNTIME" in e["name"] for e in operator_container(values)["env"])
    if scenario == "custom-accelerators":
        assert table["torch"] == Runtime("torch", "registry.example/torch:2", "PyTorch 2")


def test_job_service_account_is_passed_and_created_per_namespace():
    objects = render(SCENARIOS["namespaces"])
    (deployment,) = find(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert env_of(container)["KINETIC_JOB_SERVICE_ACCOUNT"] == "kinetic-jobs"
    created = find(objects, "ServiceAccount", "kinetic-jobs")
    assert sorted(sa["metadata"]["namespace"] for sa in created) == ["team-a", "team-b"]
    assert all("iam.gke.io/gcp-service-account" in sa["metadata"]["annotations"] for sa in created)


def test_operator_pod_is_single_non_root_and_locked_down():
    (deployment,) = find(render(), "Deployment")
    spec = deployment["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "kinetic"
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The uid the image creates (operator/Dockerfile) is the one the chart runs as.
    dockerfile = (REPO / "operator" / "Dockerfile").read_text()
    assert f"--uid {pod['securityContext']['runAsUser']} " in dockerfile
    sc = pod["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]


def test_scheduling_values_reach_the_pod():
    values = SCENARIOS["custom-accelerators"]
    (deployment,) = find(render(values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert pod["containers"][0]["image"] == "registry.example/kinetic:dev"


# -- RBAC --------------------------------------------------------------------------------


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a Role or ClusterRole grants. A rule limited to
    named objects grants on "resource[name]" for each name, never on the whole resource."""
    return {
        (group, f"{resource}[{name}]" if name else resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for name in rule.get("resourceNames") or [None]
        for verb in rule["verbs"]
    }


def expand(group: str, resources: str, verbs: str) -> set[tuple[str, str, str]]:
    return {(group, r, v) for r in resources.split() for v in verbs.split()}


# Exactly what the operator may do where it serves KineticJobs: more is a finding.
OPERATOR_GRANTS = (
    expand("kinetic.dev", "kineticjobs", "get list watch patch")
    | expand("kinetic.dev", "kineticjobs/status", "get patch update")
    | expand("kinetic.dev", "kineticjobs/finalizers", "update")
    | expand("kinetic.dev", "kineticjobs", "create")  # a batch's items (batch_driver.py)
    | expand("kinetic.dev", "kineticbatches", "get list watch patch")
    | expand("kinetic.dev", "kineticbatches/status", "get patch update")
    | expand("kinetic.dev", "kineticbatches/finalizers", "update")
    | expand("batch", "jobs", "create get list watch patch delete")
    | expand("", "pods", "get list watch delete")
    | expand("", "pods/log", "get")  # notify=: a finished job's last lines
    | expand("kueue.x-k8s.io", "workloads", "get list")  # Kueue: a queued Job's Workload
    | expand("visibility.kueue.x-k8s.io", "localqueues/pendingworkloads", "get")  # position
    | expand("", "events", "create patch")
    | expand("events.k8s.io", "events", "create patch")
    | expand("", "secrets", "create get patch delete")
    | expand("", "services", "create get list watch delete")
    | expand("networking.k8s.io", "networkpolicies", "create get list watch patch delete")
)
DISCOVERY_GRANTS = expand(
    "apiextensions.k8s.io", "customresourcedefinitions", "get list watch"
) | expand("authentication.k8s.io", "tokenreviews", "create")  # who sent a progress report
USER_GRANTS = (
    expand("kinetic.dev", "kineticjobs", "create get list watch patch delete")
    | expand("kinetic.dev", "kineticbatches", "create get list watch patch delete")
    | expand("", "secrets", "create")  # secret_env; never read
    | expand("", "pods", "get list watch")
    | expand("", "pods/log", "get")
    # kinetic jobs shell / port-forward: websockets are GET (create for SPDY clients)
    | expand("", "pods/exec pods/portforward", "get create")
    | expand("", "services", "get")  # handle.endpoints(): the job's ClusterIP
    | expand("", "events", "get list watch")
    | expand("coordination.k8s.io", f"leases[{OPERATOR_LEASE}]", "get")  # kinetic doctor
    | expand("", "configmaps[kinetic-runtimes]", "get")  # kinetic runtimes list
    | expand("", "persistentvolumeclaims", "get")  # volumes: the claims exist
    | expand("kueue.x-k8s.io", "localqueues", "get list")  # kinetic doctor: queue= exists
    | expand("metrics.k8s.io", "pods", "get list")  # a running job's use (metrics-server)
)
# In the release namespace only: the operator's heartbeat Lease (create cannot be limited
# to a name; renewing can).
HEARTBEAT_GRANTS = (
    expand("coordination.k8s.io", "leases", "create")
    | expand("coordination.k8s.io", f"leases[{OPERATOR_LEASE}]", "patch")
    | expand("", "configmaps[kinetic-runtimes]", "get")  # the runtime table
)


def test_no_role_has_a_wildcard_or_escalation(scenario):
    roles = [o for o in render(SCENARIOS[scenario]) if o["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, role["metadata"]["name"]
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(field, [])), (role, field)
        verbs = {verb for _, _, verb in grants(role)}
        assert not verbs & {"bind", "escalate", "impersonate", "deletecollection"}, role


def test_cluster_wide_operator_rbac():
    objects = render(namespace="ops")
    # The only namespaced RBAC is the heartbeat's, in the release namespace.
    assert [r["metadata"]["name"] for r in find(objects, "Role")] == ["kinetic-operator-heartbeat"]
    assert [b["metadata"]["name"] for b in find(objects, "RoleBinding")] == [
        "kinetic-operator-heartbeat"
    ]
    (role,) = find(objects, "ClusterRole", "kinetic-operator")
    assert grants(role) == OPERATOR_GRANTS
    (discovery,) = find(objects, "ClusterRole", "kinetic-operator-discovery")
    # Cluster-wide, kopf does not observe namespaces.
    assert grants(discovery) == DISCOVERY_GRANTS
    for name in ("kinetic-operator", "kinetic-operator-discovery"):
        (binding,) = find(objects, "ClusterRoleBinding", name)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": name,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "kinetic", "namespace": "ops"}
        ]


def test_per_namespace_operator_rbac():
    objects = render(SCENARIOS["namespaces"], namespace="ops")
    assert not find(objects, "ClusterRole", "kinetic-operator")
    assert not find(objects, "ClusterRoleBinding", "kinetic-operator")
    roles = find(objects, "Role", "kinetic-operator")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(grants(r) == OPERATOR_GRANTS for r in roles)
    bindings = find(objects, "RoleBinding", "kinetic-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for b in bindings:
        assert b["roleRef"]["kind"] == "Role"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "kinetic", "namespace": "ops"}]
    # kopf needs to see namespaces come and go when it serves a list of them.
    (discovery,) = find(objects, "ClusterRole", "kinetic-operator-discovery")
    assert grants(discovery) == DISCOVERY_GRANTS | expand("", "namespaces", "list watch")


def test_operator_heartbeat_rbac(scenario):
    objects = render(SCENARIOS[scenario], namespace="ops")
    (role,) = find(objects, "Role", "kinetic-operator-heartbeat")
    assert role["metadata"]["namespace"] == "ops"
    assert grants(role) == HEARTBEAT_GRANTS
    (binding,) = find(objects, "RoleBinding", "kinetic-operator-heartbeat")
    assert binding["metadata"]["namespace"] == "ops"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "kinetic-operator-heartbeat",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kinetic", "namespace": "ops"}
    ]


def test_operator_knows_its_namespace_for_the_heartbeat():
    (entry,) = [e for e in operator_container({})["env"] if e["name"] == ENV_NAMESPACE]
    assert entry == {
        "name": ENV_NAMESPACE,
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }


def test_user_role_is_aggregated_to_edit_and_admin():
    (role,) = find(render(), "ClusterRole", "kinetic-user")
    assert grants(role) == USER_GRANTS
    labels = role["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    # Users never write status: that is the operator's alone.
    assert not any(resource.endswith("/status") for _, resource, _ in grants(role))


def test_user_role_can_be_left_out_or_kept_unaggregated():
    assert not find(render({"userRole": {"create": False}}), "ClusterRole", "kinetic-user")
    values = {"userRole": {"aggregateToDefaultRoles": False}}
    (role,) = find(render(values), "ClusterRole", "kinetic-user")
    assert not any(k.startswith("rbac.authorization.k8s.io/") for k in role["metadata"]["labels"])


def test_full_name_follows_the_release_name():
    objects = render(name="ml")
    assert find(objects, "Deployment", "ml-kinetic-operator")
    assert find(objects, "ClusterRole", "ml-kinetic-user")
    assert find(objects, "ServiceAccount", "ml-kinetic")


def test_notes_say_how_to_check_and_run():
    text = notes({"fileStore": {"hostPath": "/tmp/kinetic-store"}}, namespace="ops")
    assert "kubectl -n ops rollout status deployment/kinetic-operator" in text
    assert 'store="file:///tmp/kinetic-store"' in text
    assert "kubectl get kineticjobs" in text
    assert "gs://" in notes({}, namespace="ops")


# -- the CRD -----------------------------------------------------------------------------


def test_crd_names_and_version():
    doc = crd()
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["metadata"]["name"] == "kineticjobs.kinetic.dev"
    spec = doc["spec"]
    assert (spec["group"], spec["scope"]) == ("kinetic.dev", "Namespaced")
    assert spec["names"] == {
        "kind": "KineticJob",
        "listKind": "KineticJobList",
        "plural": "kineticjobs",
        "singular": "kineticjob",
        "shortNames": ["kj"],
        "categories": ["kinetic"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


SPEC_FIELDS = {
    "function": "string",
    "store": "string",
    "payloadSha256": "string",
    "accelerator": "string",
    "spot": "boolean",
    "image": "string",
    "timeoutSeconds": "integer",
    "gracePeriodSeconds": "integer",
    "env": "array",
    "secretEnv": "array",
    "startAt": "string",
    "dependsOn": "array",
    "retryBackoffSeconds": "number",
    "retryOnError": "boolean",
    "ports": "array",
    "ssh": "boolean",
    "cancel": "boolean",
    "cancelRequestedAt": "string",
    "resources": "object",
    "retries": "integer",
    "labels": "object",
    "runtime": "string",
    "volumes": "array",
    "network": "string",
    "queue": "string",  # Kueue
    "priorityClass": "string",
    "notify": "object",  # hosts only: the URLs are in the job's Secret
    "workflow": "object",  # a workflow's member: the last to end sends its summary
}
STATUS_FIELDS = {
    "phase": "string",
    "reason": "string",
    "message": "string",
    "startTime": "string",
    "completionTime": "string",
    "attempts": "integer",
    "previousAttempts": "array",
    "retryAt": "string",
    "podName": "string",
    "nodeName": "string",
    "exitCode": "integer",
    "progress": "object",
    "progressText": "string",
    "notifications": "array",
    "workflowSummary": "object",  # on the member that sent its workflow's summary
    "result": "object",
    "resources": "object",
    "observedGeneration": "integer",
    "jobName": "string",
}


def test_crd_fields():
    props = openapi_schema()["properties"]
    spec, status = props["spec"], props["status"]
    assert {k: v["type"] for k, v in spec["properties"].items()} == SPEC_FIELDS
    assert sorted(spec["required"]) == ["function", "payloadSha256", "store"]
    assert {k: v["type"] for k, v in status["properties"].items()} == STATUS_FIELDS
    assert status["properties"]["phase"]["enum"] == [
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "CANCELLED",
    ]
    assert set(status["properties"]["result"]["properties"]) == {"uri", "size", "sha256"}
    progress = status["properties"]["progress"]["properties"]
    assert set(progress) == {"fraction", "message", "metrics", "updated"}
    assert progress["metrics"]["x-kubernetes-preserve-unknown-fields"] is True
    dates = ("startTime", "completionTime")
    assert all(status["properties"][k]["format"] == "date-time" for k in dates)
    assert spec["properties"]["cancelRequestedAt"]["format"] == "date-time"


def test_crd_defaults():
    spec = openapi_schema()["properties"]["spec"]["properties"]
    defaults = {k: v["default"] for k, v in spec.items() if "default" in v}
    assert defaults == {
        "accelerator": "cpu",
        "gracePeriodSeconds": 30,
        "ssh": False,
        "cancel": False,
        "retries": 0,
    }


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    for part in path.lstrip(".").split("."):
        props = schema.get("properties")
        if not props or part not in props:
            return None
        schema = props[part]
    return schema


def test_printer_columns_point_at_schema_fields():
    (version,) = crd()["spec"]["versions"]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == [
        "Phase",
        "Function",
        "Accelerator",
        "Progress",
        "Reason",
        "Attempts",
        "Node",
        "Age",
    ]
    assert {n for n, c in columns.items() if c.get("priority", 0) > 0} == {"Attempts", "Node"}
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }
    schema = openapi_schema()
    for name, column in columns.items():
        if name == "Age":
            continue
        field = _schema_at(schema, column["jsonPath"])
        assert field is not None, column
        assert field["type"] == column["type"], column


# The rules of a structural schema (Kubernetes' "Specifying a structural schema"), checked
# here so that a mistake shows up before an API server refuses the CRD.
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_NOT_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def structural_problems(node: dict[str, Any], path: str = "") -> list[str]:
    problems: list[str] = []
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    if not node.get("type") and not (
        int_or_string or node.get("x-kubernetes-preserve-unknown-fields") is True
    ):
        problems.append(f"{path or '<root>'}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: both properties and additionalProperties")
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        problems.append(f"{path}: an array needs one items schema")
    for junctor in _JUNCTORS:
        if junctor not in node:
            continue
        if int_or_string and junctor == "anyOf" and node[junctor] == _INT_OR_STRING:
            continue  # the one allowed pattern
        for branch in node[junctor] if junctor != "not" else [node[junctor]]:
            for key in (*_NOT_IN_JUNCTORS, "properties", "items"):
                if key in branch:
                    problems.append(f"{path}.{junctor}: {key} inside a junctor")
    if "default" in node:
        errors = list(jsonschema.Draft4Validator(node).iter_errors(node["default"]))
        problems += [f"{path}: default {node['default']!r}: {e.message}" for e in errors]
    if "enum" in node:
        errors = [e for v in node["enum"] for e in jsonschema.Draft4Validator(node).iter_errors(v)]
        problems += [f"{path}: enum: {e.message}" for e in errors]
    if node.get("x-kubernetes-list-type") == "map":
        item = node["items"]
        for key in node.get("x-kubernetes-list-map-keys", []):
            field = item.get("properties", {}).get(key, {})
            if key not in item.get("required", []) and "default" not in field:
                problems.append(f"{path}: list-map key {key} neither required nor defaulted")
    for name, child in node.get("properties", {}).items():
        problems += structural_problems(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_problems(node["additionalProperties"], f"{path}[*]")
    if isinstance(node.get("items"), dict):
        problems += structural_problems(node["items"], f"{path}[]")
    return problems


def test_crd_schema_is_structural():
    schema = openapi_schema()
    assert structural_problems(schema) == []
    # metadata may only be restricted on name/generateName: we do not restrict it at all.
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_structural_check_finds_mistakes():
    # The checker itself: each of these breaks a rule.
    bad = {
        "type": "object",
        "properties": {
            "untyped": {"description": "no type"},
            "both": {
                "type": "object",
                "properties": {},
                "additionalProperties": {"type": "string"},
            },
            "junctor": {"type": "string", "anyOf": [{"type": "string", "default": "x"}]},
            "baddefault": {"type": "integer", "minimum": 1, "default": 0},
            "listmap": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        },
    }
    found = "\n".join(structural_problems(bad))
    for name in ("untyped", "both", "junctor", "baddefault", "listmap"):
        assert f".{name}" in found


def crd_validator() -> jsonschema.Validator:
    # The x-kubernetes-* extensions are ignored here; the API-server tests cover them.
    return jsonschema.Draft4Validator(openapi_schema())


def test_schema_accepts_valid_jobs():
    validator = crd_validator()
    validator.validate(kinetic_job())
    validator.validate(minimal_job())
    running = kinetic_job()
    running["status"] = {
        "phase": "RUNNING",
        "startTime": "2026-01-02T03:04:05Z",
        "attempts": 1,
        "podName": "train-k3j9x2ab-x7z2q",
        "nodeName": "gke-pool-1",
        "progress": {"fraction": 0.45, "message": "epoch 2", "metrics": {"loss": 0.5}},
        "progressText": "45%",
        "result": {"uri": "gs://bucket/prefix/jobs/x/result.pkl", "size": 12, "sha256": "0" * 64},
        "observedGeneration": 1,
        "jobName": "train-k3j9x2ab",
    }
    validator.validate(running)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_schema_rejects_malformed_specs(case):
    with pytest.raises(jsonschema.ValidationError):
        crd_validator().validate(malformed_job(case))


def test_schema_rejects_malformed_status():
    for status in (
        {"phase": "DONE"},
        {"progress": {"fraction": 1.5}},
        {"attempts": "1"},
        {"result": {"sha256": "nope"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            crd_validator().validate({**kinetic_job(), "status": status})


# -- the image and the local cluster -------------------------------------------------------


def test_dockerfile_builds_from_the_repo_root():
    dockerfile = (REPO / "operator" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim", dockerfile, re.M)
    assert "ARG PYTHON_VERSION=3.11" in dockerfile
    # Every COPY source exists and is not excluded by .dockerignore.
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert source.split("/")[0] not in ignored, source
    assert re.search(r"^USER 10001", dockerfile, re.M)  # non-root


def test_kind_config_shares_the_store_with_every_node():
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker"]
    mounts = {
        (m["hostPath"], m["containerPath"]) for n in config["nodes"] for m in n["extraMounts"]
    }
    # One path, the same on the host and in the nodes; the chart's fileStore.hostPath names it.
    ((host, node_path),) = mounts
    assert host == node_path
    env = env_of(operator_container({"fileStore": {"hostPath": node_path}}))
    assert env["KINETIC_FILE_STORE_HOST_PATH"] == node_path


# -- the node-local environment cache (envCache) ---------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_env_cache_reaches_every_job_pod(version):
    """envCache on: the operator gets the host path, and each Job it builds mounts it at the
    same path with KINETIC_ENV_CACHE pointing there (the pod stays a valid object)."""
    from chart_support import kineticjob

    from kinetic.k8s.job_manifest import OperatorConfig, build_job

    values = {"envCache": {"enabled": True, "hostPath": "/mnt/disks/kinetic-envs/"}}
    env = env_of(operator_container(values))
    assert env["KINETIC_ENV_CACHE_HOST_PATH"] == "/mnt/disks/kinetic-envs"
    config = OperatorConfig.from_env(env)
    job = build_job(kineticjob(requirements=["pandas"], env={"EPOCHS": "3"}), config)
    kubernetes_validate.validate(job, version, strict=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "kinetic-env-cache",
            "hostPath": {"path": "/mnt/disks/kinetic-envs", "type": "DirectoryOrCreate"}} in (
        pod["volumes"])  # fmt: skip
    assert {"name": "kinetic-env-cache", "mountPath": "/mnt/disks/kinetic-envs"} in (
        container["volumeMounts"])  # fmt: skip
    assert env_of(container)["KINETIC_ENV_CACHE"] == "/mnt/disks/kinetic-envs"
    assert env_of(container)["EPOCHS"] == "3"


def test_env_cache_is_off_by_default_and_a_job_may_name_its_own():
    from chart_support import kineticjob

    from kinetic.k8s.job_manifest import OperatorConfig, build_job

    config = OperatorConfig.from_env(env_of(operator_container({})))
    assert config.env_cache_host_path is None
    pod = build_job(kineticjob(), config)["spec"]["template"]["spec"]
    assert "KINETIC_ENV_CACHE" not in env_of(pod["containers"][0])
    assert all(v["name"] != "kinetic-env-cache" for v in pod.get("volumes", []))
    # Enabled, but the job's own env names a cache: the job's wins, once in the env.
    config = OperatorConfig.from_env(env_of(operator_container({"envCache": {"enabled": True}})))
    assert config.env_cache_host_path == "/var/cache/kinetic/envs"  # the default path
    own = kineticjob(env={"KINETIC_ENV_CACHE": "/scratch/envs"})
    (container,) = build_job(own, config)["spec"]["template"]["spec"]["containers"]
    names = [e["name"] for e in container["env"]]
    assert names.count("KINETIC_ENV_CACHE") == 1
    assert env_of(container)["KINETIC_ENV_CACHE"] == "/scratch/envs"


def test_env_cache_cannot_share_the_file_store_directory():
    values = {"fileStore": {"hostPath": "/srv/kinetic"},
              "envCache": {"enabled": True, "hostPath": "/srv/kinetic/"}}  # fmt: skip
    with pytest.raises(helm.HelmError, match="directory of its own"):
        render(values)
    # Disabled, its path does not matter.
    render({**values, "envCache": {"enabled": False, "hostPath": "/srv/kinetic"}})
