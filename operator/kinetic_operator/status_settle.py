"""Whether a job's status write may wait a moment (pure): the changes a new job goes
through while it stays PENDING come in a burst, and one write can say them all.

Where it sits: the ``Controller`` (controller.py) asks ``settle_delay`` before each status
write of a sync. Right after its Job is created a job is seen PENDING four times within
about a second — the Job (waiting for its pod), the Job again (its pod counted), its pod
(created), its pod again (not scheduled yet, or scheduled) — each a status write, a watch
event back to the operator and often an Event. A change that keeps a PENDING job PENDING,
the first write after its Job's create included, waits until ``interval`` has passed since
the job's last write (or that create), and is then written with whatever else changed
meanwhile (the Controller syncs it again). A change of phase (RUNNING, an end) goes at
once, and so does a retry's new attempt, and the first word on a job whose Job this
process did not just create (held for a dependency, a scheduled start, an adopted Job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinetic.model.status import JobStatus

PENDING = JobStatus.PENDING.value


def settle_delay(
    previous: Mapping[str, Any], patch: Mapping[str, Any], since_write: float, interval: float
) -> float:
    """Seconds to put the write of ``patch`` off (0: write now). ``previous``: the status
    as last written or seen; ``since_write``: seconds since this process last wrote it or
    created the job's Job (``inf``: neither)."""
    phase, before = patch.get("phase"), previous.get("phase")
    if phase and before and phase != before:
        return 0.0  # a change of phase: at once
    if (phase or before) != PENDING:
        return 0.0  # running (its progress), ended: not a start's burst
    if "previousAttempts" in patch or (before and "jobName" in patch):
        return 0.0  # an attempt failed, or a retry's Job came: recovery reads these
    return max(0.0, interval - since_write)
