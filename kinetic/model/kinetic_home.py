"""The Kinetic home: where this machine keeps its own state, never in a shared store.

``$KINETIC_HOME``, else ``~/.kinetic``. Under it: the local runners' stderr files and
batch drivers (kinetic.backends.local, local_batch), the listing indexes
(kinetic.store.listing_index), the environment cache (kinetic.system.env_cache), notify
URLs kept for retries and batch summaries (kinetic.system.notify_keep), SLURM scripts and
output (kinetic.backends.slurm: compute nodes must see it at the same path) and project
digests (kinetic.client.project_digests). Here, in the lowest layer, because every layer
that keeps machine state needs the one default.
"""

from __future__ import annotations

import os
from pathlib import Path


def kinetic_home() -> Path:
    """``$KINETIC_HOME`` (an empty value counts as unset), else ``~/.kinetic``."""
    return Path(os.environ.get("KINETIC_HOME") or Path.home() / ".kinetic").expanduser()
