"""The ``kinetic`` command: ``kinetic jobs …``, ``kinetic config``, ``kinetic doctor``.

Exit codes: 0 ok, 1 the job failed, 2 usage, 3 not found, 4 timed out. Errors are one line
on stderr; ``--debug`` shows the traceback as well. Each module adds its commands to the
groups defined in ``base``.
"""

from . import admin, connect, jobs, runtimes, submit  # noqa: F401  (registers the commands)
from .base import main

__all__ = ["main"]
