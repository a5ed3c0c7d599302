"""In the caller: each project file's SHA-256 remembered by its stat, so that resubmitting
an unchanged ``working_dir`` reads none of its files.

Where it sits: kinetic.client.project_upload calls ``known_digests`` on a scanned manifest
before naming its content (kinetic.spec.project_files.content_hash). The cache is this
machine's: ``$KINETIC_HOME/project-digests/``, one JSON file per project directory, holding
the files of its last submission only (so it never grows past the project). A file is read
again when its size, mtime, ctime or inode changed, and when it had changed within two
seconds before it was read (kinetic.spec.project_files.reusable_digest). A cache that is
missing, unreadable or unwritable only means that the files are read, as without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from kinetic.model.kinetic_home import kinetic_home
from kinetic.spec.project_files import Manifest, file_digest, reusable_digest

CACHE_DIR = "project-digests"


def cache_file(root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]
    return kinetic_home() / CACHE_DIR / f"{name}.json"


def known_digests(manifest: Manifest) -> tuple[dict[str, str], int]:
    """(every file's SHA-256, how many files had to be read for it)."""
    read_at = time.time_ns()
    path = cache_file(manifest.root)
    known = _load(path, manifest.root)
    digests: dict[str, str] = {}
    keep: dict[str, list] = {}
    read = 0
    for name in manifest.files:
        stat = manifest.stats.get(name)
        entry = known.get(name)
        if stat is not None and entry is not None and tuple(entry[:4]) == stat:
            digest = entry[4]
        else:
            digest = file_digest(manifest.root / name)
            read += 1
        digests[name] = digest
        if stat is not None and reusable_digest(stat, read_at):
            keep[name] = [*stat, digest]
    if keep != known:
        _save(path, manifest.root, keep)
    return digests, read


def _load(path: Path, root: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("root") != str(root.resolve()):
        return {}  # (another directory whose name hashed alike: never its digests)
    files = data.get("files")
    return {
        name: entry
        for name, entry in (files.items() if isinstance(files, dict) else [])
        if isinstance(entry, list) and len(entry) == 5 and isinstance(entry[4], str)
    }


def _save(path: Path, root: Path, files: dict[str, list]) -> None:
    """Atomically (a submission elsewhere may read it meanwhile); failing quietly."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"root": str(root.resolve()), "files": files}, f)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
