"""Where the test control plane's binaries come from: the cache of
``scripts/build-k8s-control-plane.sh``, building them when needed and possible.

Environment:
    KINETIC_K8S_BIN      use the binaries in this directory (skip the build script)
    KINETIC_K8S_BUILD    "1": always run the (idempotent) build script;
                         "0": never build, missing binaries make the control plane unavailable
    KINETIC_K8S_CACHE    cache root of the build script (default ~/.cache/kinetic/k8s)
"""

from __future__ import annotations

import collections
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-k8s-control-plane.sh"
BUILD_HEARTBEAT = 30.0  # seconds between "still building" lines
K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ControlPlaneUnavailable(RuntimeError):
    """This machine cannot provide the binaries (not Debian, no root, build disabled…)."""


def default_bin_dir() -> Path:
    """Where the build script puts the binaries: the cache keyed by the script's hash."""
    digest = hashlib.sha256(BUILD_SCRIPT.read_bytes()).hexdigest()[:16]
    cache = os.environ.get("KINETIC_K8S_CACHE") or str(Path.home() / ".cache/kinetic/k8s")
    return Path(cache) / digest / "bin"


def _binaries_in(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / b, os.X_OK) for b in K8S_BINARIES)


def can_build() -> tuple[bool, str]:
    """Whether the build script can run here, and if not, why."""
    if not sys.platform.startswith("linux"):
        return False, f"building needs Linux (this is {sys.platform})"
    if not shutil.which("apt-get") or not shutil.which("dpkg-query"):
        return False, "building needs a Debian-based system with apt-get"
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if not sudo or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode:
            return False, "building needs root or passwordless sudo for apt-get"
    return True, ""


def find_binaries(build: bool | None = None) -> Path:
    """The directory holding the control-plane binaries, building them if needed and possible.

    Raises ControlPlaneUnavailable (with the reason) when they cannot be had.
    """
    if override := os.environ.get("KINETIC_K8S_BIN"):
        bin_dir = Path(override)
        if not _binaries_in(bin_dir):
            raise ControlPlaneUnavailable(f"KINETIC_K8S_BIN={override} lacks {K8S_BINARIES}")
        return bin_dir
    if build is None:
        flag = os.environ.get("KINETIC_K8S_BUILD", "")
        build = True if flag == "1" else False if flag == "0" else None
    bin_dir = default_bin_dir()
    if _binaries_in(bin_dir) and not build:
        return bin_dir
    if build is False:
        raise ControlPlaneUnavailable(
            f"no control-plane binaries in {bin_dir} and KINETIC_K8S_BUILD=0; "
            f"run {BUILD_SCRIPT.relative_to(REPO_ROOT)}"
        )
    ok, why = can_build()
    if not ok:
        raise ControlPlaneUnavailable(f"no control-plane binaries in {bin_dir} and {why}")
    # The build takes minutes: its output is echoed to our stderr so a watcher sees
    # progress, and its tail goes into the error if it fails.
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: collections.deque[str] = collections.deque(maxlen=30)
    assert proc.stderr and proc.stdout
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:  # `make` can be silent for minutes: say it is still going
        while not done.wait(BUILD_HEARTBEAT):
            sys.stderr.write(
                f"[build-k8s] still building ({time.monotonic() - started:.0f} s so far; "
                "about 5 min on 2 cores the first time)\n"
            )
            sys.stderr.flush()

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line)
    finally:
        done.set()
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise ControlPlaneUnavailable(
            f"{BUILD_SCRIPT.name} failed (exit {proc.returncode}):\n" + "".join(tail)
        )
    built = Path(out.strip().splitlines()[-1])
    if not _binaries_in(built):
        raise ControlPlaneUnavailable(f"{BUILD_SCRIPT.name} produced no binaries in {built}")
    return built
