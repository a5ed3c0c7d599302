"""In the worker, before the payload is unpickled: the job's environment (requirements=)
made the first place imports look. The supervisor found or built it
(kinetic.job.environment) and named its site-packages in KINETIC_ENV_SITE; this module is
apart so that a job's start does not pay for the builder's imports.
"""

from __future__ import annotations

import os
import sys

SITE_VAR = "KINETIC_ENV_SITE"


def activate() -> None:
    """The environment's packages before the image's (its .pth files run too)."""
    site_dir = os.environ.get(SITE_VAR)
    if not site_dir:
        return
    import importlib
    import site

    before = list(sys.path)
    site.addsitedir(site_dir)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before
    importlib.invalidate_caches()
