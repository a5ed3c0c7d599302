"""This machine's cache of job environments: one virtual environment per environment key.

Where it lives: ``KINETIC_ENV_CACHE`` (the job's ``env`` may set it too; on Kubernetes the
chart's node-local cache sets it), else ``$KINETIC_HOME/envs``, else ``~/.kinetic/envs``.
Each environment is ``ROOT/KEY/`` with a ``kinetic-env.json`` marker written last, so a
half-built directory is never taken for a ready one; ``ROOT/KEY.lock`` (flock) makes the
processes of this machine build or unpack a key one at a time. The job side builds into it
(kinetic.job.environment); ``kinetic envs`` lists and prunes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinetic.model.kinetic_home import kinetic_home

MARKER = "kinetic-env.json"
ENV_VAR = "KINETIC_ENV_CACHE"


def cache_root(overrides: Mapping[str, str] | None = None) -> Path:
    """The cache directory: ``overrides`` (a job's env) > the environment > the home."""
    chosen = (overrides or {}).get(ENV_VAR) or os.environ.get(ENV_VAR)
    if chosen:
        return Path(chosen).expanduser()
    return home_root()


def home_root() -> Path:
    """The cache under the Kinetic home, whatever KINETIC_ENV_CACHE says."""
    return kinetic_home() / "envs"


def unusable(root: Path) -> str | None:
    """Why this process cannot build into ``root`` (a node's cache made by root for a job
    running as another user, a read-only mount), or None when it can."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    if not os.access(root, os.W_OK | os.X_OK):
        return "not writable by this user"
    return None


@contextlib.contextmanager
def locked(root: Path, key: str) -> Iterator[None]:
    """Hold ``key``'s lock: one process of this machine builds or unpacks it at a time."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ready(root: Path, key: str) -> dict[str, Any] | None:
    """The environment's metadata when it is complete, else None."""
    try:
        meta = json.loads((root / key / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def mark_ready(root: Path, key: str, meta: dict[str, Any]) -> None:
    """Written last: from now on the environment is used as it is."""
    tmp = root / key / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    tmp.rename(root / key / MARKER)


def touch(root: Path, key: str) -> None:
    """Record a use: ``kinetic envs prune`` goes by the last one."""
    with contextlib.suppress(OSError):
        os.utime(root / key / MARKER)


@dataclass(frozen=True)
class CachedEnv:
    key: str
    path: Path
    meta: dict[str, Any]
    last_used: float  # epoch seconds
    size: int  # bytes

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.path), "last_used": self.last_used,
                "size": self.size, **self.meta}  # fmt: skip


def entries(root: Path) -> list[CachedEnv]:
    """The complete environments under ``root`` (half-built ones are not listed)."""
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        meta = ready(root, path.name) if path.is_dir() else None
        if meta is None:
            continue
        used = (path / MARKER).stat().st_mtime
        found.append(CachedEnv(path.name, path, meta, used, _size(path)))
    return found


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def stale(found: list[CachedEnv], older_than: float | None, now: float) -> list[CachedEnv]:
    """Those unused for ``older_than`` seconds (all of them when it is None). Pure."""
    if older_than is None:
        return list(found)
    return [e for e in found if now - e.last_used > older_than]


def remove(root: Path, key: str) -> None:
    """Delete one environment, under its lock so no job is unpacking it meanwhile."""
    with locked(root, key):
        shutil.rmtree(root / key, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / f"{key}.lock").unlink()
