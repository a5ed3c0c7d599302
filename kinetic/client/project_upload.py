"""In the caller: shipping the project's files (``working_dir=``) to the store, once per
content hash. Where it sits: kinetic.client.submit calls ``ship_project`` before pickling;
the scan and the hash are kinetic.spec.project_files'; the job unpacks the archive and runs
in its copy (kinetic.job.project_copy). An unchanged project uploads nothing, and reads
none of its files again (their digests are cached by stat: kinetic.client.project_digests)."""

from __future__ import annotations

import os
import tarfile
import tempfile
import warnings
from pathlib import Path
from typing import Any

from kinetic.client.project_digests import known_digests
from kinetic.model.errors import JobExistsError
from kinetic.spec.project_files import WARN_BYTES, Manifest, content_hash, scan
from kinetic.store import Store, layout


class ProjectSizeWarning(UserWarning):
    """The project shipped with a job is big: its largest files are named."""


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def ship_project(store: Store, root: str, cwd: str) -> dict[str, Any]:
    """Upload ``root``'s files unless the store has them already; what the job needs to
    find them (``key``) and where in the copy it runs (``cwd``, as the caller's)."""
    manifest = scan(Path(root))
    if manifest.size > WARN_BYTES:
        largest = ", ".join(f"{name} ({_mb(size)})" for name, size in manifest.largest())
        warnings.warn(
            f"working_dir {root} ships {_mb(manifest.size)} in {len(manifest.files)} files; "
            f"the largest: {largest}. Add what the job does not need to .kineticignore.",
            ProjectSizeWarning,
            stacklevel=4,
        )
    digests, read = known_digests(manifest)
    sha = content_hash(manifest, digests)
    key = layout.project_key(sha)
    uploaded = False
    if not store.exists(key):
        uploaded = _upload(store, key, manifest)
    inside = Path(cwd).resolve()
    rel = os.path.relpath(inside, root) if Path(root) in [inside, *inside.parents] else "."
    return {"sha256": sha, "key": key, "files": len(manifest.files), "size": manifest.size,
            "cwd": rel, "uploaded": uploaded, "read": read}  # fmt: skip


def _upload(store: Store, key: str, manifest: Manifest) -> bool:
    with tempfile.TemporaryFile() as packed:
        # dereference: a link to a file inside the project ships as that file.
        with tarfile.open(fileobj=packed, mode="w:gz", compresslevel=1, dereference=True) as tar:
            for name in sorted(manifest.files):
                tar.add(manifest.root / name, arcname=name, recursive=False)
        packed.seek(0)
        try:
            store.upload(key, packed, if_absent=True)
        except JobExistsError:
            return False  # another submission of the same content stored it meanwhile
    return True
