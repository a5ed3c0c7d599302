"""The real single-node SLURM cluster (scripts/slurm-node.sh), started once per session.

Outside CI a machine that cannot start it (not root, no apt, no Debian) skips the cluster
tests and says why; under CI=true that is a failure. The daemons `up` started are stopped
at the end of the session (a cluster that was already up is left as it was).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import unavailable

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-node.sh"
# A cold start installs Debian's packages; the cluster itself is up in seconds after that.
UP_TIMEOUT = 600


def _script(command: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINETIC_")}
    return subprocess.run(
        ["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=timeout, env=env
    )


def _cannot_start() -> str | None:
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (slurmd runs jobs as their users)"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "no SLURM installed and no apt-get to install Debian's slurm-wlm"
    return None


def _already_up() -> bool:
    done = _script("status", timeout=30)
    return all(f"{d}: pid" in done.stdout for d in ("munged", "slurmctld", "slurmd"))


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running cluster; its partitions: debug (default) and short (MaxTime=1 min)."""
    why = _cannot_start()
    ours = False
    if why is None:
        ours = not _already_up()
        try:
            done = _script("up")
        except subprocess.TimeoutExpired:
            why = f"slurm-node.sh up did not finish within {UP_TIMEOUT} s"
        else:
            if done.returncode != 0:
                why = f"slurm-node.sh up failed: {(done.stderr or done.stdout)[-1500:]}"
    if why is not None:
        unavailable(f"the SLURM test cluster: {why}")  # skips; fails under CI=true
    yield SCRIPT
    if ours:
        _script("down", timeout=120)


@pytest.fixture
def slurm(slurm_cluster, monkeypatch):
    """The slurm backend as the default, the fake GPU untyped (gres.conf: gpu:1)."""
    monkeypatch.setenv("KINETIC_BACKEND", "slurm")
    monkeypatch.setenv("KINETIC_SLURM_GPU_TYPES", "l4=")
    return slurm_cluster


def cgroup_mode() -> bool:
    """Whether the cluster enforces memory with cgroups (OUT_OF_MEMORY) or by polling."""
    try:
        return "proctrack/cgroup" in Path("/etc/slurm/slurm.conf").read_text()
    except OSError:
        return False
