"""The chart's CRD and RBAC on the real 1.20 test control plane.

- The API server refuses malformed KineticJobs (the CRD's structural schema) and accepts
  valid ones, filling in the defaults; status is a subresource; the printer columns, short
  name and category work in kubectl.
- The chart's rendered objects apply (the Deployment as a server-side dry run: there is no
  node here to run it), and the operator's ServiceAccount, with exactly the chart's RBAC,
  can do what the operator needs and nothing more, cluster-wide or per namespace (and, in
  the release namespace, renew its heartbeat Lease); a user bound to the user role
  likewise; the user role is aggregated to "edit" and "admin".
"""

from __future__ import annotations

from typing import Any

import pytest
from chart_support import (
    GROUP,
    MALFORMED,
    MALFORMED_SERVER_ONLY,
    PLURAL,
    VERSION,
    kinetic_job,
    malformed_job,
    minimal_job,
)
from helpers import wait_for
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kinetic.k8s.names import OPERATOR_LEASE

pytestmark = pytest.mark.k8s


def custom(api: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def create_job(api: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return custom(api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def patch_status(api: Any, namespace: str, name: str, status: dict[str, Any]) -> dict:
    return custom(api).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}
    )


# -- the CRD -------------------------------------------------------------------------------


def test_valid_jobs_are_accepted_with_defaults(k8s, namespace, crd_installed):
    full = kinetic_job("full-job")
    created = create_job(k8s, namespace, full)
    # Every field survived: none is missing from the schema (it would have been pruned).
    assert created["spec"] == full["spec"]

    created = create_job(k8s, namespace, minimal_job("minimal-job"))
    spec = created["spec"]
    assert (spec["accelerator"], spec["gracePeriodSeconds"]) == ("cpu", 30)
    assert (spec["cancel"], spec["retries"]) == (False, 0)
    assert "status" not in created


def test_malformed_jobs_are_rejected(k8s, namespace, crd_installed):
    accepted = []
    for i, case in enumerate(sorted({**MALFORMED, **MALFORMED_SERVER_ONLY})):
        try:
            create_job(k8s, namespace, malformed_job(case, name=f"bad-{i}"))
        except ApiException as e:
            assert e.status == 422, (case, e.body)
        else:
            accepted.append(case)
    no_spec = minimal_job("no-spec")
    del no_spec["spec"]
    with pytest.raises(ApiException) as e:
        create_job(k8s, namespace, no_spec)
    assert e.value.status == 422
    assert accepted == []


def test_empty_strings_are_valid(k8s, namespace, crd_installed):
    body = kinetic_job("empty-strings", image="", env=[{"name": "EMPTY", "value": ""}])
    try:
        created = create_job(k8s, namespace, body)
    except ApiException as e:
        if "must be of type string" not in (e.body or "") or "null" not in e.body:
            raise
        # kubernetes/kubernetes#99804: 1.20 compiled with Go >= 1.16 (this control plane
        # is built with Debian's Go 1.19) takes "" for null in custom resources, unless
        # the vendored go-openapi/kube-openapi type.go carries kube-openapi#230. Released
        # 1.20 binaries (Go 1.15) and every later release accept "".
        pytest.xfail("this control plane's API server has kubernetes#99804 (see comment)")
    assert created["spec"]["image"] == ""
    assert created["spec"]["env"] == [{"name": "EMPTY", "value": ""}]


def test_unknown_spec_fields_are_pruned(k8s, namespace, crd_installed):
    # 1.20 has no strict field validation: unknown fields are dropped, not stored.
    body = kinetic_job("pruned-job", secretValue="hunter2")
    created = create_job(k8s, namespace, body)
    assert "secretValue" not in created["spec"]


def test_status_is_a_subresource(k8s, namespace, crd_installed):
    name = "status-job"
    created = create_job(k8s, namespace, kinetic_job(name))
    assert created["metadata"]["generation"] == 1

    status = {
        "phase": "RUNNING",
        "startTime": "2026-01-02T03:04:05Z",
        "attempts": 1,
        "podName": f"{name}-abcde",
        "nodeName": "sim-gpu-node",
        "progress": {"fraction": 0.45, "metrics": {"loss": 0.5, "nested": {"ok": True}}},
        "progressText": "45%",
        "observedGeneration": 1,
        "jobName": name,
    }
    patched = patch_status(k8s, namespace, name, status)
    assert patched["status"] == status  # metrics kept as given (preserve-unknown-fields)
    assert patched["metadata"]["generation"] == 1  # status writes do not bump it

    # Through the main resource, status is ignored; spec changes bump the generation.
    body = {"spec": {"cancel": True}, "status": {"phase": "SUCCEEDED"}}
    patched = custom(k8s).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, body
    )
    assert patched["spec"]["cancel"] is True
    assert patched["status"]["phase"] == "RUNNING"
    assert patched["metadata"]["generation"] == 2

    for bad in ({"phase": "DONE"}, {"progress": {"fraction": 2}}, {"completionTime": "soon"}):
        with pytest.raises(ApiException) as e:
            patch_status(k8s, namespace, name, bad)
        assert e.value.status == 422, bad


def test_kubectl_columns_short_name_and_category(control_plane, k8s, namespace, crd_installed):
    create_job(k8s, namespace, kinetic_job("shown-job"))
    status = {"phase": "PENDING", "reason": "Unschedulable", "attempts": 1, "progressText": "45%"}
    patch_status(k8s, namespace, "shown-job", status)

    out = control_plane.kubectl("get", "kj", "-n", namespace, "-o", "wide").stdout
    header, row = out.splitlines()
    assert header.split() == [
        "NAME",
        "PHASE",
        "FUNCTION",
        "ACCELERATOR",
        "PROGRESS",
        "REASON",
        "ATTEMPTS",
        "NODE",
        "AGE",
    ]
    assert row.split()[:7] == [
        "shown-job",
        "PENDING",
        "examples.train:train",
        "l4x2",
        "45%",
        "Unschedulable",
        "1",
    ]
    # Without -o wide the priority-1 columns are left out.
    header = control_plane.kubectl("get", "kineticjobs", "-n", namespace).stdout.splitlines()[0]
    assert "ATTEMPTS" not in header and "NODE" not in header
    assert "shown-job" in control_plane.kubectl("get", "kinetic", "-n", namespace).stdout


# -- the chart's RBAC ----------------------------------------------------------------------


def can(
    api: Any,
    verb: str,
    resource: str,
    namespace: str | None = None,
    group: str = "",
    name: str | None = None,
) -> bool:
    resource, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    review = {"spec": {"resourceAttributes": attributes}}
    result = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(result.status.allowed)


# What the operator must be able to do where it serves KineticJobs, and what it must not.
OPERATOR_ALLOWED = [
    ("watch", "kineticjobs", GROUP),
    ("patch", "kineticjobs", GROUP),
    ("patch", "kineticjobs/status", GROUP),
    ("update", "kineticjobs/finalizers", GROUP),
    ("create", "kineticjobs", GROUP),  # a batch's items (batch_driver.py), never deleted
    ("watch", "kineticbatches", GROUP),
    ("patch", "kineticbatches/status", GROUP),
    ("create", "jobs", "batch"),
    ("delete", "jobs", "batch"),
    ("list", "pods", ""),
    ("delete", "pods", ""),
    ("create", "events", ""),
    ("create", "events", "events.k8s.io"),
    ("create", "secrets", ""),
    ("create", "services", ""),
    ("create", "networkpolicies", "networking.k8s.io"),
    ("get", "pods/log", ""),  # notify=: a finished job's last lines
    ("list", "workloads", "kueue.x-k8s.io"),  # Kueue: a queued Job's Workload, read only
    ("get", "localqueues/pendingworkloads", "visibility.kueue.x-k8s.io"),  # its position
]
OPERATOR_DENIED = [
    ("delete", "kineticjobs", GROUP),
    ("create", "kineticbatches", GROUP),
    ("delete", "kineticbatches", GROUP),
    ("update", "kineticjobs", GROUP),
    ("list", "secrets", ""),
    ("create", "pods", ""),
    ("update", "jobs", "batch"),
    ("list", "localqueues", "kueue.x-k8s.io"),  # Kueue: only Workloads are read, never written
    ("update", "workloads", "kueue.x-k8s.io"),
    ("patch", "workloads/status", "kueue.x-k8s.io"),
    ("create", "rolebindings", "rbac.authorization.k8s.io"),
    ("create", "deployments", "apps"),
]


COORDINATION = "coordination.k8s.io"


def check_heartbeat_rbac(op: Any, release_namespace: str, other: str) -> None:
    """The operator may create leases in its own namespace and renew only its heartbeat."""
    assert can(op, "create", "leases", release_namespace, COORDINATION)
    assert can(op, "patch", "leases", release_namespace, COORDINATION, OPERATOR_LEASE)
    for verb in ("get", "update", "delete", "list", "watch"):
        assert not can(op, verb, "leases", release_namespace, COORDINATION, OPERATOR_LEASE), verb
    assert not can(op, "patch", "leases", release_namespace, COORDINATION, "someone-else")
    assert not can(op, "create", "leases", other, COORDINATION)
    assert not can(op, "patch", "leases", other, COORDINATION, OPERATOR_LEASE)


def operator_client(control_plane, namespace: str, fullname: str) -> Any:
    kubeconfig = control_plane.service_account_kubeconfig(namespace, fullname)
    return control_plane.api_client(kubeconfig)


def test_operator_rbac_cluster_wide(control_plane, k8s, namespace, crd_installed, install_chart):
    fullname = install_chart(namespace)
    other = "default"
    with operator_client(control_plane, namespace, fullname) as op:
        wait_for(lambda: can(op, "watch", "kineticjobs", other, GROUP), 20, what="RBAC")
        for verb, resource, group in OPERATOR_ALLOWED:
            assert can(op, verb, resource, other, group), (verb, resource)
        for verb, resource, group in OPERATOR_DENIED:
            assert not can(op, verb, resource, other, group), (verb, resource)
        assert can(op, "watch", "customresourcedefinitions", group="apiextensions.k8s.io")
        assert not can(op, "create", "customresourcedefinitions", group="apiextensions.k8s.io")
        assert not can(op, "list", "namespaces")  # not needed cluster-wide
        check_heartbeat_rbac(op, namespace, other)

        # Real calls, as kopf makes them: list across namespaces, patch the status.
        create_job(k8s, namespace, kinetic_job("rbac-job"))
        listed = custom(op).list_cluster_custom_object(GROUP, VERSION, PLURAL)
        assert "rbac-job" in [o["metadata"]["name"] for o in listed["items"]]
        patched = patch_status(op, namespace, "rbac-job", {"phase": "PENDING"})
        assert patched["status"]["phase"] == "PENDING"


def test_operator_rbac_per_namespace(control_plane, k8s, namespace, crd_installed, install_chart):
    fullname = install_chart(namespace, {"watchNamespaces": [namespace]})
    with operator_client(control_plane, namespace, fullname) as op:
        wait_for(lambda: can(op, "watch", "kineticjobs", namespace, GROUP), 20, what="RBAC")
        for verb, resource, group in OPERATOR_ALLOWED:
            assert can(op, verb, resource, namespace, group), (verb, resource)
            assert not can(op, verb, resource, "default", group), (verb, resource, "default")
        for verb, resource, group in OPERATOR_DENIED:
            assert not can(op, verb, resource, namespace, group), (verb, resource)
        assert not can(op, "list", "kineticjobs", group=GROUP)  # not cluster-wide
        assert can(op, "watch", "namespaces") and can(op, "list", "namespaces")
        assert can(op, "list", "customresourcedefinitions", group="apiextensions.k8s.io")
        check_heartbeat_rbac(op, namespace, "default")

        create_job(k8s, namespace, kinetic_job("ns-job"))
        listed = custom(op).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        assert [o["metadata"]["name"] for o in listed["items"]] == ["ns-job"]
        with pytest.raises(ApiException) as e:
            custom(op).list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
        assert e.value.status == 403


def test_user_role(control_plane, k8s, namespace, crd_installed, install_chart):
    fullname = install_chart(namespace)
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "alice"}})
    binding = {
        "metadata": {"name": "alice-runs-jobs"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"{fullname}-user",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": namespace}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)

    kubeconfig = control_plane.service_account_kubeconfig(namespace, "alice")
    with control_plane.api_client(kubeconfig) as alice:
        wait_for(lambda: can(alice, "create", "kineticjobs", namespace, GROUP), 20, what="RBAC")
        create_job(alice, namespace, kinetic_job("alice-job"))
        cancel = {"spec": {"cancel": True, "cancelRequestedAt": "2026-01-02T03:04:05Z"}}
        custom(alice).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "alice-job", cancel
        )
        with pytest.raises(ApiException) as e:  # only the operator writes status
            patch_status(alice, namespace, "alice-job", {"phase": "SUCCEEDED"})
        assert e.value.status == 403
        assert can(alice, "get", "pods/log", namespace)
        assert can(alice, "watch", "pods", namespace)
        assert can(alice, "list", "events", namespace)
        assert not can(alice, "create", "jobs", namespace, "batch")
        assert not can(alice, "get", "secrets", namespace)
        assert not can(alice, "list", "kineticjobs", "default", GROUP)  # only where bound
        # kinetic doctor reads the operator's heartbeat, and only that Lease.
        assert can(alice, "get", "leases", namespace, COORDINATION, OPERATOR_LEASE)
        assert not can(alice, "get", "leases", namespace, COORDINATION, "someone-else")
        assert not can(alice, "patch", "leases", namespace, COORDINATION, OPERATOR_LEASE)
        assert not can(alice, "list", "leases", namespace, COORDINATION)
        custom(alice).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "alice-job"
        )

    # Aggregated into the built-in roles by the real clusterrole-aggregation controller.
    def aggregated(role: str) -> bool:
        rules = rbac.read_cluster_role(role).rules or []
        return any(GROUP in (r.api_groups or []) and "create" in r.verbs for r in rules)

    wait_for(lambda: aggregated("edit") and aggregated("admin"), 30, what="aggregation")
