"""requirements= on the cluster: the first pod that needs an environment builds it and
packs it into the store; later pods — also one started at the same time — unpack it.
Each job gets its own cache directory (KINETIC_ENV_CACHE), as pods on different nodes
without the chart's node-local cache would."""

from __future__ import annotations

import pytest
from envfns import use_package
from wheel_support import build_wheel

import kinetic
from kinetic.store import layout, open_store

pytestmark = pytest.mark.k8s


def test_the_environment_is_built_once_and_unpacked_by_later_pods(kube, namespace, tmp_path):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "kinwheel-k", "3.0")
    reqs = ["kinwheel-k==3.0", "--no-index", f"--find-links={wheels}"]

    def start(node: str):
        cache = {"KINETIC_ENV_CACHE": str(tmp_path / f"cache-{node}")}
        return kinetic.run(requirements=reqs, env=cache)(use_package).run_async("kinwheel_k")

    together = [start("a"), start("b")]  # two pods at once: one builds, one waits
    for job in together:
        found = job.result(timeout=240, cleanup=False)
        assert found["value"] == "kinwheel-k-3.0", job.logs()
        assert found["file"].startswith(str(tmp_path / "cache-"))
    later = start("c")
    assert later.result(timeout=120, cleanup=False)["value"] == "kinwheel-k-3.0"
    logs = [job.logs() for job in [*together, later]]
    assert sum("installing" in text for text in logs) == 1, logs
    assert sum("unpacked from the store" in text for text in logs) == 2, logs
    assert "unpacked from the store" in logs[2]
    store = open_store(later.store)
    packed = [o.key for o in store.list(layout.ENVS)]
    assert len([k for k in packed if k.endswith(".tar.gz")]) == 1, packed
    assert not [k for k in packed if "/locks/" in k], packed  # released


def test_an_install_failure_on_the_cluster(kube, namespace, tmp_path):
    reqs = ["kinwheel-absent", "--no-index", f"--find-links={tmp_path}"]
    job = kinetic.run(requirements=reqs)(use_package).run_async("x")
    with pytest.raises(kinetic.JobFailedError):
        job.result(timeout=240, cleanup=False)
    state = job.state()
    assert state.reason == "DependencyInstallFailed", state
    assert "kinwheel-absent" in (state.message or "")
    store = open_store(job.store)
    assert not store.list(layout.ENVS)  # no archive, and the lock released


def test_working_dir_ships_the_project_to_the_pod(kube, namespace, tmp_path, monkeypatch):
    from envfns import project_view

    root = tmp_path / "proj"
    (root / "configs").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "configs" / "train.yaml").write_text("lr: 0.3\n")
    (root / "projhelper.py").write_text("NAME = 'on the pod'\n")
    (root / ".kineticignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("not shipped")
    monkeypatch.chdir(root / "notebooks")
    job = kinetic.run(working_dir="..")(project_view).run_async()
    seen = job.result(timeout=120, cleanup=False)
    assert seen["config"] == "lr: 0.3\n" and seen["helper"] == "on the pod"
    assert not any(p.endswith("secret.txt") for p in seen["listing"])
