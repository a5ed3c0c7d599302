"""A job's environment shared through the store (Kubernetes): built once, unpacked after.

Where it sits: kinetic.job.environment.prepare calls ``build_or_fetch`` on a pod whose
node-local cache lacks the environment. The store holds ``envs/KEY/env.tar.gz`` and its
``env.json`` (kinetic.store.layout); the first job to need a key takes the write-once
``envs/locks/KEY``, builds, packs and uploads, then releases it; jobs that find the lock
held wait for the archive, so two jobs never build the same environment at once. A lock
older than STALE_LOCK (a builder that died) is taken over. A failed build releases the lock
and leaves nothing behind, so the next job tries again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinetic.model.errors import JobExistsError, KineticError
from kinetic.store import Store, layout

if TYPE_CHECKING:
    from kinetic.job.environment import Environment


class InstallCancelled(KineticError):
    """The job was cancelled while its environment was being built or awaited."""


POLL_SECONDS = 1.0
STALE_LOCK = 3600.0  # seconds: no build takes an hour; its builder is gone


def build_or_fetch(
    store: Store,
    env: Environment,
    meta: dict[str, Any],
    build: Callable[[], None],
    note: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Leave ``env.path`` complete: unpacked from the store, or built here and published;
    InstallCancelled when the job is cancelled while it waits for another's build."""
    archive, lock_prefix = layout.env_archive_key(env.key), layout.env_lock_prefix(env.key)
    lock = f"{lock_prefix}/owner.json"
    waiting_said = False
    while True:
        if store.exists(archive):
            fetch(store, env)
            note(f"environment {env.key[:12]}: unpacked from the store")
            return
        try:
            owner = {"since": time.time(), "host": os.uname().nodename, "pid": os.getpid(),
                     "job": os.environ.get("KINETIC_JOB_ID", "")}  # fmt: skip
            store.write_bytes(lock, json.dumps(owner).encode(), if_absent=True)
        except JobExistsError:
            if _stale(store, lock):
                note(f"environment {env.key[:12]}: taking over a stale build lock")
                store.delete_prefix(lock_prefix)
                continue
            if not waiting_said:
                note(f"environment {env.key[:12]}: another job is building it; waiting")
                waiting_said = True
            if cancelled():
                raise InstallCancelled("cancelled while waiting for its environment") from None
            time.sleep(POLL_SECONDS)
            continue
        try:
            if store.exists(archive):  # published between our look and our lock
                continue
            build()
            publish(store, env, meta)
            note(f"environment {env.key[:12]}: packed into the store for later jobs")
            return
        finally:
            with contextlib.suppress(Exception):  # a lock left behind goes stale in time
                store.delete_prefix(lock_prefix)


def _stale(store: Store, lock: str) -> bool:
    try:
        since = float(json.loads(store.read_bytes(lock)).get("since", 0))
    except Exception:
        return False  # released meanwhile, or being written: look again
    return time.time() - since > STALE_LOCK


def publish(store: Store, env: Environment, meta: dict[str, Any]) -> None:
    """The metadata first, the archive last: a job that sees the archive finds both."""
    import tarfile  # here: a job without requirements= never pays for the import

    meta = {**meta, "path": str(env.path)}
    with tempfile.TemporaryFile() as packed:
        with tarfile.open(fileobj=packed, mode="w:gz", compresslevel=1) as tar:
            tar.add(env.path, arcname=".")
        meta["archive_size"] = packed.tell()
        store.write_bytes(layout.env_meta_key(env.key), json.dumps(meta).encode())
        packed.seek(0)
        store.upload(layout.env_archive_key(env.key), packed)


def fetch(store: Store, env: Environment) -> None:
    """Unpack the store's archive into ``env.path`` (the caller holds the local lock)."""
    import shutil
    import tarfile

    shutil.rmtree(env.path, ignore_errors=True)
    env.path.mkdir(parents=True)
    built_at = None
    with contextlib.suppress(Exception):
        built_at = json.loads(store.read_bytes(layout.env_meta_key(env.key))).get("path")
    with tempfile.TemporaryFile() as packed:
        store.download(layout.env_archive_key(env.key), packed)
        packed.seek(0)
        with tarfile.open(fileobj=packed, mode="r:gz") as tar:
            # Our own archive; "tar" keeps the venv's absolute link to the interpreter.
            tar.extractall(env.path, filter="tar")
    if built_at and built_at != str(env.path):
        relocate_scripts(env.path / "bin", built_at, str(env.path))


def relocate_scripts(bin_dir: Path, old: str, new: str) -> None:
    """Scripts name the environment's path in their first line (and activate files in
    their body): rewrite it for the path this node unpacked it at."""
    for path in bin_dir.iterdir() if bin_dir.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = path.read_text()
            if old in text:
                mode = path.stat().st_mode
                path.write_text(text.replace(old, new))
                path.chmod(mode)
