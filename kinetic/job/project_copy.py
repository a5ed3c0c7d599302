"""Inside the job: the project's files (``working_dir=``) unpacked for the job to run in.

Where it sits: the worker calls ``unpack_project`` in its setup phase, after the payload
is loaded and before the function runs; the archive was stored once per content hash by
kinetic.client.project_upload. The job runs in its copy, in the directory matching the
caller's working directory, so relative paths mean what they meant on the laptop; the
copy's root goes first on sys.path so the project's packages import by name.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from kinetic.store import Store


def unpack_project(store: Store, project: dict[str, Any], into: Path) -> Path:
    """Unpack into ``into``; returns the directory to run in."""
    import tarfile  # here: only jobs with working_dir= pay for it

    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as packed:
        store.download(project["key"], packed)
        packed.seek(0)
        with tarfile.open(fileobj=packed, mode="r:gz") as tar:
            tar.extractall(into, filter="data")  # plain files only: nothing outside ``into``
    sys.path.insert(0, str(into))
    cwd = (into / project.get("cwd", ".")).resolve()
    if into.resolve() not in [cwd, *cwd.parents]:
        return into
    cwd.mkdir(parents=True, exist_ok=True)  # only files ship: an empty directory is made
    return cwd
