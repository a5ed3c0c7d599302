"""requirements=: a job's packages installed once into a cached environment layered on the
image's interpreter, offline (wheels built here, --find-links, --no-index), with real
runner processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from envfns import use_package
from wheel_support import build_wheel

import kinetic
from kinetic import JobStatus
from kinetic.job.environment import find_uv, install_commands, key_of
from kinetic.model.errors import SpecError
from kinetic.spec.job_spec import JobSpec
from kinetic.spec.requirements import (
    environment_key,
    find_project_requirements,
    normalize_lines,
    read_requirements_file,
)
from kinetic.system import env_cache


@pytest.fixture
def wheels(tmp_path) -> Path:
    directory = tmp_path / "wheels"
    build_wheel(directory, "kinwheel-a", "1.0", requires=["kinwheel-b>=2"])
    build_wheel(directory, "kinwheel-b", "2.1")
    return directory


def offline(wheels: Path, *requirements: str) -> list[str]:
    return [*requirements, "--no-index", f"--find-links={wheels}"]


# -- the option ------------------------------------------------------------------------------
def test_lines_are_normalized_and_options_kept(tmp_path):
    lines = normalize_lines(
        ["Scikit_Learn == 1.5.2", "# a comment", "-f wheels", "--index-url=https://x/${TOKEN}/",
         "kinetic>=0.1", 'foo; python_version < "3.12"', "--no-index"], tmp_path, "requirements",
    )  # fmt: skip
    assert lines == (
        "scikit-learn==1.5.2",
        f"--find-links {tmp_path / 'wheels'}",
        "--index-url https://x/${TOKEN}/",
        'foo; python_version < "3.12"',
        "--no-index",
    )  # fmt: skip  (kinetic itself: the image's copy runs the job)


@pytest.mark.parametrize("bad", [["-e ."], ["--pre"], ["!!"], "no-such-file.txt", 3])
def test_bad_requirements_are_refused_at_decoration(bad):
    with pytest.raises(SpecError, match="requirements"):
        kinetic.run(requirements=bad)


def test_requirements_file_with_include_and_relative_find_links(tmp_path):
    (tmp_path / "base.txt").write_text("pandas>=2  # pinned later\n")
    (tmp_path / "req.txt").write_text("-r base.txt\nnumpy==2.0 \\\n  ; sys_platform=='linux'\n"
                                      "--find-links wheels\n")  # fmt: skip
    assert read_requirements_file(tmp_path / "req.txt") == (
        "pandas>=2",
        "numpy==2.0; sys_platform=='linux'",
        f"--find-links {tmp_path / 'wheels'}",
    )


def test_auto_finds_requirements_txt_then_pyproject(tmp_path):
    project = tmp_path / "proj"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = ["Requests>=2", "kinetic"]\n'
    )
    assert find_project_requirements(project / "src" / "pkg") == ("requests>=2",)
    (project / "requirements.txt").write_text("rich\n")
    assert find_project_requirements(project / "src") == ("rich",)
    with pytest.raises(SpecError, match=r"requirements\.txt or a pyproject\.toml"):
        find_project_requirements(tmp_path / "elsewhere")


def test_key_ignores_requirement_order_but_not_options():
    a = environment_key(["a==1", "b==2", "--no-index"], "cpython-3.11", "linux-x86_64")
    assert a == environment_key(["b==2", "a==1", "--no-index"], "cpython-3.11", "linux-x86_64")
    assert a != environment_key(["a==1", "b==2"], "cpython-3.11", "linux-x86_64")
    assert a != environment_key(["a==1", "b==2", "--no-index"], "cpython-3.12", "linux-x86_64")


def test_private_index_credentials_are_expanded_only_in_the_job(tmp_path):
    lines = ["pkg", "--index-url https://u:${TOKEN}@pypi.example/simple"]
    uv_argv = install_commands(tmp_path / "e", lines, "uv", {"TOKEN": "s3cret"})[1]
    assert "https://u:s3cret@pypi.example/simple" in uv_argv
    pip_argv = install_commands(tmp_path / "e", lines, None, {"TOKEN": "s3cret"})[1]
    assert "--ignore-installed" in pip_argv and "https://u:s3cret@pypi.example/simple" in pip_argv
    spec = JobSpec(requirements=lines, secret_env={"TOKEN": "s3cret"})
    assert "s3cret" not in str(spec.to_dict())


# -- jobs ------------------------------------------------------------------------------------
def test_job_imports_an_installed_wheel_and_the_second_reuses_it(store_uri, wheels):
    if find_uv() is None:
        pytest.skip("uv is not installed: test_pip_builds_when_uv_is_absent covers pip")
    reqs = offline(wheels, "kinwheel-a==1.0")
    job = kinetic.run(requirements=reqs)(use_package).run_async("kinwheel_b")
    found = job.result(timeout=120, cleanup=False)
    assert found["value"] == "kinwheel-b-2.1"  # a dependency of the requirement, installed too
    root = env_cache.cache_root()
    assert found["file"].startswith(str(root)) and found["venv"].startswith(str(root))
    assert "installing 1 requirement(s) with uv" in job.logs()
    again = kinetic.run(requirements=reqs)(use_package).run_async("kinwheel_a")
    assert again.result(timeout=60, cleanup=False)["value"] == "kinwheel-a-1.0"
    assert "cached" in again.logs() and "installing" not in again.logs()
    [entry] = env_cache.entries(root)
    assert entry.key == key_of(list(JobSpec(requirements=reqs).requirements))


def test_pip_builds_when_uv_is_absent(wheels, monkeypatch):
    monkeypatch.setenv("KINETIC_INSTALLER", "pip")  # the runner inherits it
    job = kinetic.run(requirements=offline(wheels, "kinwheel-a"))(use_package).run_async(
        "kinwheel_a"
    )
    assert job.result(timeout=180, cleanup=False)["value"] == "kinwheel-a-1.0"
    assert "with pip" in job.logs()


def test_two_jobs_at_once_build_the_environment_once(wheels):
    reqs = offline(wheels, "kinwheel-b")
    jobs = [kinetic.run(requirements=reqs)(use_package).run_async("kinwheel_b") for _ in "ab"]
    assert [j.result(timeout=180, cleanup=False)["value"] for j in jobs] == ["kinwheel-b-2.1"] * 2
    logs = [j.logs() for j in jobs]
    assert sum("installing" in text for text in logs) == 1, logs
    assert sum("cached" in text for text in logs) == 1, logs


def test_install_failure_ends_dependency_install_failed(wheels):
    job = kinetic.run(requirements=offline(wheels, "kinwheel-missing==9"))(use_package)
    handle = job.run_async("x")
    with pytest.raises(kinetic.JobFailedError, match="kinwheel-missing"):
        handle.result(timeout=180, cleanup=False)
    state = handle.state()
    assert state.status == JobStatus.FAILED and state.reason == "DependencyInstallFailed"
    assert "installing the requirements failed" in state.message
    assert env_cache.entries(env_cache.cache_root()) == []  # nothing half-built is kept


def test_auto_requirements_from_a_temporary_project(tmp_path, wheels, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "requirements.txt").write_text(
        f"kinwheel-a\n--no-index\n--find-links {os.path.relpath(wheels, project)}\n"
    )
    monkeypatch.chdir(project / "notebooks")
    job = kinetic.run(requirements="auto")(use_package).run_async("kinwheel_a")
    assert job.result(timeout=180, cleanup=False)["value"] == "kinwheel-a-1.0"
    assert job.spec["requirements"] == ["kinwheel-a", "--no-index", f"--find-links {wheels}"]


def test_a_job_without_requirements_runs_in_the_image_as_before():
    job = kinetic.run()(sys.version.__class__)  # any plain callable
    assert job("x") == "x"


# -- the store-packed path, on both stores (the cluster test runs it in pods) ----------------
def test_two_builders_at_once_build_once_and_the_other_unpacks(store_uri, tmp_path):
    import threading

    from kinetic.job.env_pack import build_or_fetch
    from kinetic.job.environment import Environment
    from kinetic.model.status import format_time, utcnow
    from kinetic.store import layout, open_store

    store = open_store(store_uri)
    builds, notes = [], []
    release = threading.Event()

    def build_into(env: Environment):
        def build():
            builds.append(env.path)
            release.wait(30)  # the other builder arrives while this one holds the lock
            (env.path / "bin").mkdir(parents=True)
            (env.path / "bin" / "tool").write_text(f"#!{env.path}/bin/python\n")
            (env.path / "lib").mkdir()
            (env.path / "lib" / "data.txt").write_text("built")

        return build

    meta = {"key": "k" * 32, "created": format_time(utcnow())}
    envs = [Environment("k" * 32, tmp_path / name / ("k" * 32)) for name in ("a", "b")]
    threads = [
        threading.Thread(target=build_or_fetch, args=(store, env, meta, build_into(env),
                                                      notes.append))
        for env in envs
    ]  # fmt: skip
    threads[0].start()
    from helpers import wait_for

    wait_for(lambda: builds, what="the first build to start")
    threads[1].start()
    wait_for(lambda: any("waiting" in n for n in notes), what="the second to wait")
    release.set()
    for t in threads:
        t.join(60)
    assert len(builds) == 1 and builds[0] == envs[0].path
    assert (envs[1].path / "lib" / "data.txt").read_text() == "built"
    assert (envs[1].path / "bin" / "tool").read_text() == f"#!{envs[1].path}/bin/python\n"
    assert not store.list(layout.env_lock_prefix("k" * 32))  # released

    from kinetic.client.environments import find_environment, list_environments, prune

    [row] = find_environment(list_environments(store.uri), "kkkk")
    assert row["where"] == "store" and row["path"].endswith("env.tar.gz")
    assert prune(store.uri, 30 * 86400) == []  # built just now
    assert [r["key"] for r in prune(store.uri, None)] == ["k" * 32]
    assert not store.exists(layout.env_archive_key("k" * 32))


def test_envs_cli_lists_shows_and_prunes_the_local_cache(wheels):
    import json
    import subprocess

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "kinetic.cli", "envs", *args, "--local-only"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    job = kinetic.run(requirements=offline(wheels, "kinwheel-b"))(use_package)
    assert job("kinwheel_b")["value"] == "kinwheel-b-2.1"
    [row] = json.loads(cli("list", "-o", "json").stdout)
    assert row["where"] == "local" and row["requirements"][0] == "kinwheel-b" and row["size"] > 0
    assert "kinwheel-b" in cli("list").stdout
    shown = cli("show", row["key"][:8])
    assert shown.returncode == 0 and json.loads(shown.stdout)["key"] == row["key"]
    assert cli("show", "ffffffff").returncode == 3
    assert "nothing to prune" in cli("prune", "--older-than", "30d").stderr
    assert cli("prune", "--older-than", "soon").returncode == 2
    assert f"removed {row['key']}" in cli("prune").stdout
    assert json.loads(cli("list", "-o", "json").stdout) == []


def test_a_cancel_stops_a_build_that_hangs():
    """An index that never answers: the cancel reaches the installer, the job ends CANCELLED."""
    import socket
    import threading

    from helpers import wait_log

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)],
                     daemon=True).start()  # fmt: skip
    index = f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    job = kinetic.run(requirements=["kinwheel-slow", f"--index-url={index}"])(use_package)
    handle = job.run_async("x")
    try:
        wait_log(handle, "installing 1 requirement", timeout=60)
        handle.cancel()
        state = handle.state()
        assert state.status == JobStatus.CANCELLED, state
        assert "environment was being built" in state.message
        assert env_cache.entries(env_cache.cache_root()) == []
    finally:
        server.close()


def test_an_unusable_cache_directory_falls_back_to_the_home(tmp_path, wheels):
    """A KINETIC_ENV_CACHE the job cannot create or write (here: below a regular file; on
    a cluster, a node's cache owned by root and a job that is not) costs a build in the
    Kinetic home, never the job."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    reqs = offline(wheels, "kinwheel-b")
    fn = kinetic.run(requirements=reqs, env={"KINETIC_ENV_CACHE": str(blocker / "envs")})
    job = fn(use_package).run_async("kinwheel_b")
    found = job.result(timeout=180, cleanup=False)
    assert found["value"] == "kinwheel-b-2.1"
    assert found["file"].startswith(str(env_cache.home_root())), found
    assert f"environment cache {blocker / 'envs'} is unusable here" in job.logs()
