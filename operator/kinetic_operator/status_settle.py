"""Whether a job's status write may wait a moment (pure): the changes a new job goes
through while it stays PENDING come in a burst, and one write can say them all.

Where it sits: the ``Controller`` (controller.py) asks ``settle_delay`` before each status
write of a sync. Right after its Job is created a job is seen PENDING three times within
about a second — the Job (waiting for its pod), its pod (created), its pod again (not
scheduled yet, or scheduled) — each a status write, a watch event back to the operator and
often an Event. The first write goes at once (the job is seen to have started), and so
does every change of phase (RUNNING, an end) and anything a user waits on; a change that
keeps a PENDING job PENDING waits until ``interval`` has passed since the job's last write,
and is then written with whatever else changed meanwhile (the Controller syncs it again).
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
    as last written or seen; ``since_write``: seconds since this process last wrote it."""
    if previous.get("phase") != PENDING or patch.get("phase", PENDING) != PENDING:
        return 0.0  # the first write, or a change of phase: at once
    if "jobName" in patch or "previousAttempts" in patch or "attempts" in patch:
        return 0.0  # a new attempt's Job: the record restarts and recovery read these
    return max(0.0, interval - since_write)
