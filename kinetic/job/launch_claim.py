"""The runner's half of an all-or-nothing local submission (job side).

The local backend's client records a job in steps: handle.json, the payload, the runner
started, its secrets handed over on a pipe, then launch.json — the commit: a job without
launch.json (nor a state.json) is invisible and collected later (kinetic.backends.local).
If the client dies after starting the runner, the runner commits the job itself (once it
is waiting for its start time, or its worker runs: never delaying the start), but only
once it holds everything it needs: a runner whose secrets never arrived was started
by a submission that never finished, and goes away without a trace.
"""

from __future__ import annotations

import contextlib
import json
import os

from kinetic.model.errors import JobExistsError
from kinetic.store import Store, layout
from kinetic.system.procinfo import ProcessIdentity


def submission_complete(secret_names: list[str], secrets: dict[str, str]) -> bool:
    """Whether the runner received all it was promised (pure): every secret's value."""
    return all(name in secrets for name in secret_names)


def claim_launch(store: Store, job_id: str, attempt: int) -> None:
    """Record this runner as the attempt's launch, unless its client already did (the
    usual case: one read). Never a second write of the same object: a bucket throttles
    writes to one object, and the client may be writing it at this very moment."""
    key = layout.launch_key(job_id, attempt)
    identity = ProcessIdentity.of(os.getpid())
    if identity is None or store.exists(key):
        return
    with contextlib.suppress(JobExistsError):  # the client's landed meanwhile: the same
        store.write_bytes(key, json.dumps(identity.to_dict()).encode(), if_absent=True)
