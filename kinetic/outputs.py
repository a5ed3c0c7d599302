"""Files a job wrote under KINETIC_OUTPUT_DIR, kept in the store's ``output/`` prefix."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .errors import StorageError
from .store import Store, layout


def upload_dir(store: Store, job_id: str, directory: Path, attempt: int = 1) -> int:
    """Copy every file under ``directory`` into the attempt's outputs; returns how many."""
    prefix = layout.output_prefix(job_id, attempt)
    count = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(root, name)
            if path.is_symlink():
                continue  # a link could point anywhere on this machine
            rel = path.relative_to(directory).as_posix()
            with path.open("rb") as f:
                store.upload(f"{prefix}/{rel}", f)
            count += 1
    return count


def list_outputs(store: Store, job_id: str, attempt: int = 1) -> list[str]:
    prefix = layout.output_prefix(job_id, attempt) + "/"
    return [o.key[len(prefix) :] for o in store.list(prefix)]


def download(store: Store, job_id: str, dest: Path, attempt: int = 1) -> list[Path]:
    prefix = layout.output_prefix(job_id, attempt) + "/"
    written = []
    for obj in store.list(prefix):
        rel = PurePosixPath(obj.key[len(prefix) :])
        if rel.is_absolute() or ".." in rel.parts:
            raise StorageError(f"refusing output path {rel} that leaves {dest}")
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as f:
            store.download(obj.key, f)
        written.append(target)
    return written
