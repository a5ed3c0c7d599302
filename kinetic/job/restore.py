"""Inside the job: restore earlier outputs into a new attempt's output directory (resume).

Called by kinetic.job.supervisor before the worker starts. Attempt N of a job finds the
latest synced version of every file its earlier attempts stored (each attempt's outputs
stay apart in the store, kinetic.store.layout; a later attempt's version wins), on top of
the outputs of the job it resumes from (``resume_from``), so a function that loads its
checkpoint from ``output_dir()`` continues where the last one stopped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from kinetic.job.output_sync import FileStat
from kinetic.model.spec_record import SpecRecord
from kinetic.store import Store, layout


def should_resume(spec: SpecRecord) -> bool:
    """``resume`` defaults to on when the job may be retried."""
    resume = spec.get("resume")
    return bool(spec.get("retries")) if resume is None else bool(resume)


def sources(spec: SpecRecord, job_id: str, attempt: int) -> list[tuple[str, int]]:
    """(job, attempt) whose outputs are layered, oldest first (0: all of that job's). Pure."""
    layers: list[tuple[str, int]] = []
    if resume_from := spec.get("resume_from"):
        layers.append((resume_from, 0))  # 0: every attempt that job has
    if should_resume(spec):
        # This attempt's own outputs too: the same attempt runs again when its pod is
        # replaced (Kubernetes' Job controller) or its runner relaunched.
        layers += [(job_id, n) for n in range(1, attempt + 1)]
    return layers


def latest_outputs(store: Store, layers: list[tuple[str, int]]) -> dict[str, str]:
    """Relative path → the store key of its latest version among ``layers``."""
    keys: dict[str, str] = {}
    for job_id, attempt in layers:
        last = layout.latest_attempt(store, job_id) if attempt == 0 else attempt
        for n in range(1, last + 1) if attempt == 0 else (attempt,):
            prefix = layout.output_prefix(job_id, n) + "/"
            for info in store.list(prefix):
                keys[info.key[len(prefix) :]] = info.key
    return keys


def restore(store: Store, keys: dict[str, str], directory: Path) -> dict[str, FileStat]:
    """Download ``keys`` into ``directory``; returns each file's stat (already stored)."""
    restored: dict[str, FileStat] = {}
    base = directory.resolve()
    for rel, key in sorted(keys.items()):
        path = (directory / rel).resolve()
        if base not in path.parents:
            continue  # never outside the output directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".restoring-")
        try:
            with os.fdopen(fd, "wb") as f:
                store.download(key, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        restored[rel] = FileStat.of(path.stat())
    return restored


def resume_into(
    store: Store,
    spec: SpecRecord,
    job_id: str,
    attempt: int,
    directory: Path,
    note: Callable[[str], None],
) -> dict[str, FileStat]:
    """Restore what this attempt resumes from (nothing unless it resumes); returns what was
    restored, which the sync then need not send again."""
    layers = sources(spec, job_id, attempt)
    if not layers or not spec.get("upload", True):
        return {}
    keys = latest_outputs(store, layers)
    if not keys:
        return {}  # a first attempt: nothing to say
    restored = restore(store, keys, directory)
    whence = ", ".join(f"{j} attempt {n}" if n else j for j, n in layers)
    note(f"resuming: {len(restored)} output file(s) restored from {whence}")
    return restored
