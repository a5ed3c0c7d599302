"""`kinetic doctor`'s Kueue checks on the real control plane: Kueue's API group absent, then
served (a LocalQueue CRD as Kueue's, with a LocalQueue as Kueue users get them), read by a
user with exactly the chart's user role.

Kueue itself does not run here (the control plane is Kubernetes 1.20: no Job suspend); its
LocalQueue API is what doctor reads, so that is what is installed.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import wait_for
from kubernetes import client

from kinetic.cli import main
from kinetic.client.kueue_doctor import check_kueue
from kinetic.k8s.kueue import KUEUE_GROUP

pytestmark = pytest.mark.k8s

LOCALQUEUE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"localqueues.{KUEUE_GROUP}"},
    "spec": {
        "group": KUEUE_GROUP,
        "names": {
            "kind": "LocalQueue",
            "plural": "localqueues",
            "singular": "localqueue",
            "shortNames": ["queue", "queues", "lq"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def kueue_api(control_plane, k8s):
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition(LOCALQUEUE_CRD)

    def served() -> bool:
        try:
            client.CustomObjectsApi(k8s).get_api_resources(KUEUE_GROUP, "v1beta1")
            return True
        except client.ApiException:
            return False

    wait_for(served, timeout=30, what="discovery to serve Kueue's group")
    yield
    ext.delete_custom_resource_definition(LOCALQUEUE_CRD["metadata"]["name"])
    wait_for(lambda: not served(), timeout=60, what="Kueue's group to go")


def test_without_kueue_only_a_queue_fails(control_plane, namespace):
    kubeconfig = str(control_plane.kubeconfig)
    (plain,) = check_kueue(kubeconfig, None, namespace)
    assert plain.ok and plain.detail.startswith("not installed")
    found, queue = check_kueue(kubeconfig, None, namespace, "team-a")
    assert not found.ok and "queue=team-a would wait as Queued forever" in found.detail
    assert not queue.ok and queue.detail == "skipped: Kueue is not installed"


def test_the_queue_exists_or_not_as_the_user_sees_it(
    control_plane, k8s, namespace, release, kueue_api
):
    from .cluster_fixtures import bind_user

    client.CustomObjectsApi(k8s).create_namespaced_custom_object(
        KUEUE_GROUP, "v1beta1", namespace, "localqueues",
        {"apiVersion": f"{KUEUE_GROUP}/v1beta1", "kind": "LocalQueue",
         "metadata": {"name": "team-a"}, "spec": {"clusterQueue": "cluster-gpus"}},
    )  # fmt: skip
    client.CoreV1Api(k8s).create_namespaced_service_account(
        namespace, {"metadata": {"name": "alice"}}
    )
    bind_user(k8s, namespace, release, namespace)
    alice = str(control_plane.service_account_kubeconfig(namespace, "alice"))
    installed, queue = check_kueue(alice, None, namespace, "team-a")
    assert installed.ok and installed.detail.startswith(f"installed: {KUEUE_GROUP}/v1beta1")
    assert queue.ok, queue.detail
    assert f"LocalQueue team-a exists in namespace {namespace}" in queue.detail
    assert "ClusterQueue cluster-gpus" in queue.detail
    _, missing = check_kueue(alice, None, namespace, "team-b")
    assert not missing.ok and f"no LocalQueue team-b in namespace {namespace}" in missing.detail
    _, listed = check_kueue(alice, None, namespace)
    assert listed.ok and f"LocalQueues in namespace {namespace}: team-a" in listed.detail
    out = CliRunner().invoke(
        main, ["doctor", "--queue", "team-b"],
        env={"KINETIC_KUBECONFIG": alice, "KINETIC_NAMESPACE": namespace,
             "KINETIC_BACKEND": "kubernetes"},
    )  # fmt: skip
    assert out.exit_code == 1 and "[FAIL] Kueue queue: there is no LocalQueue team-b" in out.output
