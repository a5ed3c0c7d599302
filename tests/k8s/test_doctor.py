"""`kinetic doctor`'s cluster checks and the operator's heartbeat, on the real 1.20 control
plane: an admin, a user with exactly the chart's user role, a user with no RBAC at all; a
fresh, missing and stale heartbeat Lease; the operator itself (as the chart's
ServiceAccount) renewing its Lease. The CRD is cluster-wide and other modules rely on it,
so "CRD missing" is checked by asking for an API group nobody serves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner
from helpers import QUIET_PERIOD, wait_for
from kinetic_operator import heartbeat
from kinetic_operator.heartbeat import Heartbeat, micro_time
from kubernetes import client

from kinetic.cli import main
from kinetic.client.doctor import Check, check_cluster
from kinetic.k8s.names import ANNOTATION_SERVED_NAMESPACES, GROUP, OPERATOR_LEASE

pytestmark = pytest.mark.k8s

CHECKS = ["cluster", "CRD", "operator", "kineticjobs access", "pod logs access"]


@pytest.fixture(autouse=True)
def no_settings(monkeypatch) -> None:
    """Only the arguments count: no kubeconfig or namespace from this machine's settings."""
    for name in ("KINETIC_KUBECONFIG", "KINETIC_OPERATOR_NAMESPACE", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)


def service_account(control_plane, k8s, namespace: str, name: str, role: str | None = None):
    """A kubeconfig for a new ServiceAccount, bound to ClusterRole ``role`` in ``namespace``."""
    client.CoreV1Api(k8s).create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    if role:
        client.RbacAuthorizationV1Api(k8s).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": f"{name}-{role}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        )
    return control_plane.service_account_kubeconfig(namespace, name)


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [c.name for c in checks] == CHECKS, checks
    return {c.name: c for c in checks}


def lease(k8s, namespace: str, renewed: datetime, annotations: dict | None = None) -> None:
    """A heartbeat Lease written as if an operator renewed it at ``renewed``."""
    body = {
        "metadata": {"name": OPERATOR_LEASE, "annotations": annotations or {}},
        "spec": {
            "holderIdentity": "kinetic-operator-old",
            "leaseDurationSeconds": 60,
            "renewTime": micro_time(renewed),
        },
    }
    client.CoordinationV1Api(k8s).create_namespaced_lease(namespace, body)


def read_lease(k8s, namespace: str) -> client.V1Lease:
    return client.CoordinationV1Api(k8s).read_namespaced_lease(OPERATOR_LEASE, namespace)


# -- doctor --------------------------------------------------------------------------------


def test_all_ok_for_an_admin(control_plane, k8s, namespace, crd_installed):
    Heartbeat(k8s, namespace, served=[]).beat()
    checks = check_cluster(str(control_plane.kubeconfig), None, namespace, namespace)
    found = by_name(checks)
    assert all(c.ok for c in checks), checks
    assert "Kubernetes v1.20.2" in found["cluster"].detail
    assert f"namespace {namespace}" in found["cluster"].detail
    assert "kineticjobs.kinetic.dev/v1alpha1 is served (short names: kj)" in found["CRD"].detail
    assert found["operator"].detail.startswith("alive: ")
    assert "(serves every namespace)" in found["operator"].detail
    verbs = "create, get, list, watch, patch, delete kineticjobs"
    assert found["kineticjobs access"].detail == f"you may {verbs} in namespace {namespace}"
    assert (
        found["pod logs access"].detail
        == f"you may get pods; get pods/log in namespace {namespace}"
    )


def test_all_ok_for_a_user_with_the_user_role(
    control_plane, k8s, namespace, crd_installed, install_chart
):
    fullname = install_chart(namespace)
    Heartbeat(k8s, namespace, served=[]).beat()
    alice = str(service_account(control_plane, k8s, namespace, "alice", f"{fullname}-user"))

    def all_ok() -> list[Check] | None:
        checks = check_cluster(alice, None, namespace, namespace)
        return checks if all(c.ok for c in checks) else None

    checks = wait_for(all_ok, timeout=20, what="the user role to take effect")
    assert [c.name for c in checks] == CHECKS

    # Bound in the job namespace only: the operator's Lease elsewhere cannot be read, and
    # doctor says where to bind the role rather than guessing that the operator is down.
    found = by_name(check_cluster(alice, None, namespace, "kube-system"))
    assert not found["operator"].ok
    assert "you may not read the Lease kube-system/kinetic-operator" in found["operator"].detail
    assert "--clusterrole=kinetic-user" in found["operator"].detail
    assert all(c.ok for name, c in found.items() if name != "operator")


def test_a_user_without_rbac_is_told_what_is_missing(control_plane, k8s, namespace, crd_installed):
    Heartbeat(k8s, namespace, served=[]).beat()
    bob = str(service_account(control_plane, k8s, namespace, "bob"))
    found = by_name(check_cluster(bob, None, namespace, namespace))
    # Anyone authenticated may reach the API and its discovery documents.
    assert found["cluster"].ok and found["CRD"].ok
    assert not found["operator"].ok and "may not read the Lease" in found["operator"].detail
    access = found["kineticjobs access"]
    assert not access.ok
    verbs = "create, get, list, watch, patch, delete kineticjobs"
    assert f"you may not {verbs} in namespace {namespace}" in access.detail
    assert f"kubectl create rolebinding kinetic-user -n {namespace}" in access.detail
    logs = found["pod logs access"]
    assert not logs.ok and "you may not get pods; get pods/log in namespace" in logs.detail

    # Read-only access to kineticjobs and pods: doctor names exactly what is still missing.
    rbac = client.RbacAuthorizationV1Api(k8s)
    rules = [
        {"apiGroups": [GROUP], "resources": ["kineticjobs"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
    ]
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "reader"}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "bob-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bob", "namespace": namespace}],
        },
    )

    def partial() -> dict[str, Check] | None:
        found = by_name(check_cluster(bob, None, namespace, namespace))
        missing = "you may not create, patch, delete kineticjobs"
        return found if missing in found["kineticjobs access"].detail else None

    found = wait_for(partial, timeout=20, what="bob's Role to take effect")
    access = found["kineticjobs access"]
    assert not access.ok
    assert access.detail.startswith(
        f"you may not create, patch, delete kineticjobs in namespace {namespace}. "
    )
    logs = found["pod logs access"]
    assert logs.detail.startswith(f"you may not get pods/log in namespace {namespace}. ")


def test_operator_check_needs_a_fresh_heartbeat(control_plane, k8s, namespace, crd_installed):
    kubeconfig = str(control_plane.kubeconfig)

    def operator_check() -> Check:
        return by_name(check_cluster(kubeconfig, None, namespace, namespace))["operator"]

    missing = operator_check()
    assert not missing.ok
    assert f"no Lease kinetic-operator in namespace {namespace}" in missing.detail
    assert "operator_namespace" in missing.detail and "helm install" in missing.detail

    lease(k8s, namespace, datetime.now(UTC) - timedelta(minutes=5))
    stale = operator_check()
    assert not stale.ok
    assert "the operator is not running" in stale.detail
    assert "last renewed 5 min ago by kinetic-operator-old" in stale.detail
    assert f"kubectl -n {namespace} get pods" in stale.detail

    Heartbeat(k8s, namespace, served=[]).beat()  # renewed: alive again
    assert operator_check().ok


def test_operator_check_knows_which_namespaces_are_served(control_plane, k8s, namespace):
    served = {ANNOTATION_SERVED_NAMESPACES: "team-a,team-b"}
    lease(k8s, namespace, datetime.now(UTC), served)
    kubeconfig = str(control_plane.kubeconfig)
    elsewhere = by_name(check_cluster(kubeconfig, None, namespace, namespace))["operator"]
    assert not elsewhere.ok
    assert f"does not serve namespace {namespace}: it serves team-a, team-b" in elsewhere.detail
    assert "watchNamespaces" in elsewhere.detail
    served_here = by_name(check_cluster(kubeconfig, None, "team-b", namespace))["operator"]
    assert served_here.ok and "(serves team-a,team-b)" in served_here.detail


def test_missing_crd_is_reported(control_plane, namespace, crd_installed):
    # Another API group stands in for an uninstalled CRD (the real one must stay).
    checks = check_cluster(
        str(control_plane.kubeconfig), None, namespace, namespace, group="absent.kinetic.dev"
    )
    crd = by_name(checks)["CRD"]
    assert not crd.ok
    assert "the API absent.kinetic.dev/v1alpha1 is not served" in crd.detail
    assert "kineticjobs.absent.kinetic.dev) is not installed" in crd.detail
    assert "helm install kinetic charts/kinetic" in crd.detail


def test_unreachable_cluster_fails_fast(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "current-context": "gone",
    }
    path = tmp_path / "gone.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    checks = check_cluster(str(path), None, "default", "kinetic")
    assert [c.name for c in checks] == CHECKS
    first, *rest = checks
    assert not first.ok and f"cannot reach the cluster at https://127.0.0.1:{port}" in first.detail
    assert all(not c.ok and c.detail == "skipped: the cluster is unreachable" for c in rest)


def test_cli_runs_the_cluster_checks_for_the_kubernetes_backend(
    control_plane, k8s, namespace, crd_installed, tmp_path
):
    env = {
        "KINETIC_KUBECONFIG": str(control_plane.kubeconfig),
        "KINETIC_NAMESPACE": namespace,
        "KINETIC_OPERATOR_NAMESPACE": namespace,
        "KINETIC_STORE": (tmp_path / "store").as_uri(),
    }
    runner = CliRunner()

    def doctor(*args: str, backend: str = "local"):
        return runner.invoke(main, ["doctor", *args], env={**env, "KINETIC_BACKEND": backend})

    local = doctor()  # the local backend: the store only
    assert local.exit_code == 0, local.output
    assert "[ok  ] delete:" in local.output and "] CRD:" not in local.output

    no_operator = doctor(backend="kubernetes")  # no heartbeat yet: exit 1
    assert no_operator.exit_code == 1, no_operator.output
    assert "[FAIL] operator: no heartbeat" in no_operator.output
    assert "[ok  ] CRD: kineticjobs.kinetic.dev/v1alpha1 is served" in no_operator.output

    Heartbeat(k8s, namespace, served=[]).beat()
    ok = doctor(backend="kubernetes")
    assert ok.exit_code == 0, ok.output
    lines = ok.output.splitlines()
    assert [line.split(":")[0] for line in lines[-6:-1]] == [f"[ok  ] {n}" for n in CHECKS]
    assert lines[-1].startswith("[ok  ] Kueue: not installed")  # only queue= needs it
    no_cluster = doctor("--no-cluster", backend="kubernetes")
    assert no_cluster.exit_code == 0 and "] CRD:" not in no_cluster.output
    assert "[ok  ] operator: alive" in doctor("--cluster").output  # asked for explicitly


# -- the heartbeat -------------------------------------------------------------------------


def test_heartbeat_renews_the_lease_with_the_charts_rbac(
    control_plane, k8s, namespace, install_chart
):
    fullname = install_chart(namespace)
    kubeconfig = control_plane.service_account_kubeconfig(namespace, fullname)
    with control_plane.api_client(kubeconfig) as op:
        beat = Heartbeat(op, namespace, identity="op-1", served=["ml", "team-a"], every=0.2)
        wait_for(lambda: _beats(beat), timeout=20, what="the heartbeat RBAC to take effect")
        first = read_lease(k8s, namespace)
        assert first.spec.holder_identity == "op-1"
        assert first.spec.lease_duration_seconds == 60
        assert first.spec.acquire_time is not None
        assert first.metadata.annotations[ANNOTATION_SERVED_NAMESPACES] == "ml,team-a"
        assert first.metadata.labels == {"app.kubernetes.io/managed-by": "kinetic"}

        beat.start()
        try:
            renewed = wait_for(
                lambda: (
                    (lease := read_lease(k8s, namespace)).spec.renew_time > first.spec.renew_time
                    and lease
                ),
                timeout=10,
                what="the Lease to be renewed",
            )
        finally:
            beat.stop()
        assert beat.beats >= 2
        assert renewed.spec.acquire_time == first.spec.acquire_time  # the same holder
        stopped = read_lease(k8s, namespace).spec.renew_time
        time.sleep(QUIET_PERIOD)  # five periods: a running heartbeat would have renewed it
        assert read_lease(k8s, namespace).spec.renew_time == stopped

        # A heartbeat that does not know what is served removes a stale claim.
        Heartbeat(op, namespace, identity="op-2").beat()
        again = read_lease(k8s, namespace)
        assert ANNOTATION_SERVED_NAMESPACES not in (again.metadata.annotations or {})
        assert again.spec.holder_identity == "op-2"
        assert again.metadata.resource_version != renewed.metadata.resource_version


def _beats(beat: Heartbeat) -> bool:
    try:
        beat.beat()
        return True
    except client.ApiException as exc:
        if exc.status != 403:
            raise
        return False


def test_no_namespace_no_heartbeat(caplog):
    caplog.set_level("INFO", logger="kinetic.operator")
    assert heartbeat.start(client.ApiClient(), None) is None
    assert "KINETIC_OPERATOR_NAMESPACE is not set" in caplog.text


def test_the_operator_beats_as_the_chart_runs_it(
    control_plane, k8s, namespace, crd_installed, install_chart, tmp_path
):
    """`kinetic operator run` with the chart's env and exactly its RBAC (one watched
    namespace) renews its Lease; doctor sees it alive and serving that namespace."""
    fullname = install_chart(namespace, {"watchNamespaces": [namespace]})
    kubeconfig = control_plane.service_account_kubeconfig(namespace, fullname)
    log_path = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KINETIC_OPERATOR_NAMESPACE": namespace}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kinetic.cli", "operator", "run", f"--namespace={namespace}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        admin = str(control_plane.kubeconfig)

        def alive() -> Check | None:
            check = by_name(check_cluster(admin, None, namespace, namespace))["operator"]
            return check if check.ok else None

        check = wait_for(alive, timeout=60, interval=0.5, what="the operator's heartbeat")
        assert f"(serves {namespace})" in check.detail, log_path.read_text()
        assert "heartbeat: renewing Lease" in log_path.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()
