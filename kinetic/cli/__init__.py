"""The ``kinetic`` command: ``kinetic jobs …``, ``kinetic config``, ``kinetic doctor``.

Exit codes: 0 ok, 1 the job failed, 2 usage, 3 not found, 4 timed out. Errors are one line
on stderr; ``--debug`` shows the traceback as well. Each ``*_commands`` module adds its
commands to the groups defined in ``app``; importing them here registers them.
"""

from kinetic.cli import (  # noqa: F401  (imported for their registrations)
    admin_commands,
    batches_commands,
    cluster_commands,
    connect_commands,
    dashboard_commands,
    debug_commands,
    envs_commands,
    history_commands,
    jobs_commands,
    queue_commands,
    retry_commands,
    runtimes_commands,
    submit_commands,
    top_commands,
    tree_commands,
    workflow_commands,
)
from kinetic.cli.app import main

__all__ = ["main"]
