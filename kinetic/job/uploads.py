"""Inside the job: copy the files it wrote under KINETIC_OUTPUT_DIR into the store.

They land under the attempt's ``output/`` prefix; kinetic.client.downloads reads them back.
"""

from __future__ import annotations

import os
from pathlib import Path

from kinetic.store import Store, layout


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
