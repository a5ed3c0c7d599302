"""The chart's node-local environment cache (``envCache``) on the test control plane: the
operator configured from the rendered chart, every job's pod mounting the node's cache
directory at KINETIC_ENV_CACHE. The first pod builds the environment there (and packs it
into the store for other nodes); pods started with it, or later, on the same node use the
node's copy: nothing is installed twice, nothing unpacked from the store."""

from __future__ import annotations

import pytest
from chart_support import find, render
from envfns import use_package
from wheel_support import build_wheel

import kinetic
from kinetic.store import layout, open_store

from .cluster_fixtures import pods_of, run_operator

pytestmark = pytest.mark.k8s


@pytest.fixture(scope="module")
def node_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("node-env-cache")


@pytest.fixture(scope="module")
def release_values(node_cache):
    return {"envCache": {"enabled": True, "hostPath": str(node_cache)}}


@pytest.fixture(scope="module")
def operator(control_plane, sim_node, release, release_namespace, shared_root, release_values,
             tmp_path_factory):  # fmt: skip
    """The operator with the environment the chart's Deployment gives it for these values."""
    (deployment,) = find(render(release_values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    name = "KINETIC_ENV_CACHE_HOST_PATH"
    env = {e["name"]: e["value"] for e in container["env"] if e["name"] == name}
    assert env == {name: release_values["envCache"]["hostPath"]}
    with run_operator(control_plane, release, release_namespace, shared_root,
                      tmp_path_factory.mktemp("operator"), env=env) as proc:  # fmt: skip
        yield proc


def test_pods_on_a_node_reuse_its_environment_cache(kube, namespace, tmp_path, node_cache):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "kinwheel-n", "1.0")
    reqs = ["kinwheel-n==1.0", "--no-index", f"--find-links={wheels}"]
    run = kinetic.run(requirements=reqs)(use_package)

    together = [run.run_async("kinwheel_n"), run.run_async("kinwheel_n")]
    for job in together:
        found = job.result(timeout=240, cleanup=False)
        assert found["value"] == "kinwheel-n-1.0", job.logs()
        assert found["file"].startswith(str(node_cache)), found
    later = run.run_async("kinwheel_n")
    assert later.result(timeout=120, cleanup=False)["file"].startswith(str(node_cache))

    logs = [job.logs() for job in [*together, later]]
    assert sum("installing" in text for text in logs) == 1, logs  # built once, on the node
    assert sum(f"cached in {node_cache}" in text for text in logs) == 2, logs
    assert f"cached in {node_cache}" in logs[2]
    assert not any("unpacked from the store" in text for text in logs), logs
    # Still packed into the store, for pods of other nodes.
    packed = [o.key for o in open_store(later.store).list(layout.ENVS)]
    assert len([k for k in packed if k.endswith(".tar.gz")]) == 1, packed
    # What the pods were given: the node's directory, at the same path.
    (pod,) = pods_of(kube, namespace, later.job_id)
    (volume,) = [v for v in pod.spec.volumes if v.name == "kinetic-env-cache"]
    assert volume.host_path.path == str(node_cache)
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["KINETIC_ENV_CACHE"] == str(node_cache)
