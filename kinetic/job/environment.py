"""The job's environment (``requirements=``): found in the cache or built, then activated.

Where it sits: the supervisor calls ``prepare`` before it forks the worker, so an install
that fails ends the job FAILED with reason DependencyInstallFailed and the installer's own
message, and the function is never loaded; the worker calls ``activate`` before it
unpickles the payload (kinetic.job.env_activate), so the function's imports find the
environment's packages first.

An environment is a virtual environment layered on the image's interpreter
(``--system-site-packages``: Kinetic and the image's packages stay importable), built once
per key (kinetic.spec.requirements.environment_key: Python version, platform,
requirements, index options) into this machine's cache (kinetic.system.env_cache), with uv
when it is installed and pip otherwise. On Kubernetes the first job to need a key also
packs it into the store and later pods unpack it (kinetic.job.env_pack).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinetic.job.env_activate import SITE_VAR
from kinetic.job.env_pack import InstallCancelled, build_or_fetch
from kinetic.model.errors import KineticError
from kinetic.spec.requirements import environment_key, split_lines
from kinetic.store import Store
from kinetic.system import env_cache

MESSAGE_LINES = 20  # of the installer's output, in the job's failure message


class DependencyInstallFailed(KineticError):
    """The installer refused the requirements; the message is its own output's end."""


CANCEL_CHECK_SECONDS = 2.0  # how often a build asks whether the job was cancelled


@dataclass(frozen=True)
class Environment:
    key: str
    path: Path

    def site_packages(self) -> Path:
        found = sorted(self.path.glob("lib/python*/site-packages"))
        return found[0] if found else self.path / "lib" / "site-packages"

    def variables(self) -> dict[str, str]:
        """What the worker (and the job's own commands) run with."""
        return {
            SITE_VAR: str(self.site_packages()),
            "VIRTUAL_ENV": str(self.path),
            "PATH": f"{self.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }


def python_tag() -> str:
    return f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"


def key_of(lines: list[str] | tuple[str, ...]) -> str:
    return environment_key(lines, python_tag(), sysconfig.get_platform())


def prepare(
    spec: Mapping[str, Any],
    store: Store,
    backend: str,
    secrets: Mapping[str, str],
    note: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> Environment | None:
    """The job's environment, ready (None when it asks for no requirements).
    ``cancelled()`` is asked every few seconds while it is built or awaited."""
    lines = list(spec.get("requirements") or [])
    if not lines:
        return None
    key = key_of(lines)
    root = env_cache.cache_root(spec.get("env") or {})
    if (why := env_cache.unusable(root)) and root != env_cache.home_root():
        # A shared cache this job cannot write (e.g. the chart's node-local one, made by
        # the kubelet for root, and a job image that is not): slower, never a failure.
        note(f"environment cache {root} is unusable here ({why}); using "
             f"{env_cache.home_root()} instead")  # fmt: skip
        root = env_cache.home_root()
    env = Environment(key, root / key)
    with env_cache.locked(root, key):
        if env_cache.ready(root, key) is not None:
            env_cache.touch(root, key)
            note(f"environment {key[:12]}: cached in {root}")
            return env
        meta = _meta(key, lines)
        if backend == "kubernetes":
            build_or_fetch(store, env, meta, lambda: build(env, lines, secrets, note, cancelled),
                           note, cancelled)  # fmt: skip
        else:
            build(env, lines, secrets, note, cancelled)
        env_cache.mark_ready(root, key, {**meta, "path": str(env.path)})
    return env


def _meta(key: str, lines: list[str]) -> dict[str, Any]:
    from kinetic.model.status import format_time, utcnow

    return {"key": key, "requirements": lines, "python": ".".join(map(str, sys.version_info[:3])),
            "platform": sysconfig.get_platform(), "created": format_time(utcnow())}  # fmt: skip


def find_uv() -> str | None:
    """uv (from PyPI's ``uv`` package or the PATH), or None: pip is used instead."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def install_commands(
    path: Path, lines: list[str], uv: str | None, environ: Mapping[str, str]
) -> list[list[str]]:
    """The installer's argv: create the venv, then install into it. Pure.

    ``${VAR}`` in index options is expanded here, from the job's environment and secrets,
    so a private index's credential never reaches handle.json or the cache key.
    """
    options, requirements = split_lines(lines)
    options = [_expand(o, environ) for o in options]
    python = str(path / "bin" / "python")
    if uv:
        return [
            [uv, "venv", "--quiet", "--system-site-packages", "--python", sys.executable,
             str(path)],
            [uv, "pip", "install", "--python", python, *options, *requirements],
        ]  # fmt: skip
    return [
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)],
        # The image's pip installs into the venv; --ignore-installed keeps the environment
        # whole (an image with other packages gets the same key).
        [sys.executable, "-m", "pip", "--python", python, "install", "--ignore-installed",
         "--no-input", "--disable-pip-version-check", *options, *requirements],
    ]  # fmt: skip


def _expand(text: str, environ: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: environ.get(m.group(1), ""), text)


def build(
    env: Environment,
    lines: list[str],
    secrets: Mapping[str, str],
    note: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Build the environment in place (its scripts name its path); DependencyInstallFailed
    with the installer's output when it cannot, InstallCancelled when the job is cancelled."""
    shutil.rmtree(env.path, ignore_errors=True)  # a half-built one from a killed job
    uv = find_uv() if os.environ.get("KINETIC_INSTALLER") != "pip" else None
    note(f"environment {env.key[:12]}: installing {len(split_lines(lines)[1])} requirement(s) "
         f"with {'uv' if uv else 'pip'}")  # fmt: skip
    environ = {**os.environ, **secrets}
    for argv in install_commands(env.path, lines, uv, environ):
        code, output = _run(argv, environ, cancelled)
        if code is None:
            shutil.rmtree(env.path, ignore_errors=True)
            raise InstallCancelled("cancelled while its environment was being built")
        if code != 0:
            lines_out = output.strip().splitlines()
            tail = "\n".join(lines_out[-MESSAGE_LINES:]) or f"exit code {code}"
            shutil.rmtree(env.path, ignore_errors=True)
            raise DependencyInstallFailed(
                f"installing the requirements failed ({os.path.basename(argv[0])} exited "
                f"with code {code}):\n{_mask(tail, secrets)}"
            )
    note(f"environment {env.key[:12]}: built in {env.path}")


def _run(
    argv: list[str], environ: Mapping[str, str], cancelled: Callable[[], bool]
) -> tuple[int | None, str]:
    """(exit code, output); (None, output) when the job was cancelled meanwhile."""
    import tempfile
    import time

    with tempfile.TemporaryFile("w+") as out:  # a file: a chatty installer never blocks
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environ,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        last_check = time.monotonic()
        while True:
            try:
                code: int | None = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - last_check >= CANCEL_CHECK_SECONDS:
                    last_check = time.monotonic()
                    if cancelled():
                        _kill_group(proc)
                        code = None
                        break
        out.seek(0)
        return code, out.read()


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the installer and what it started
    except OSError:
        proc.kill()
    proc.wait()


def _mask(text: str, secrets: Mapping[str, str]) -> str:
    for value in secrets.values():
        if value:
            text = text.replace(value, "***")
    return text
