"""In the caller: list and fetch the files a job wrote under KINETIC_OUTPUT_DIR.

The job's side is kinetic.job.uploads. A download never leaves its destination directory.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from kinetic.model.errors import StorageError
from kinetic.store import Store, layout


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
