"""``python -m kinetic.job --store URI JOB_ID``: the process that runs a job.

The local backend starts it detached; on Kubernetes it is the container's command. The
supervisor (kinetic.job.supervisor) does the work; this is only the entry point. Its first
act is to catch the stop signal: a job cancelled a few milliseconds after it was started
must end CANCELLED, not killed by SIGTERM's default action before it can say so.
"""

import signal
import sys

_stops: list[int] = []
signal.signal(signal.SIGTERM, lambda signum, frame: _stops.append(signum))
signal.signal(signal.SIGINT, lambda signum, frame: _stops.append(signum))

from kinetic.job.supervisor import main  # noqa: E402  (after the handler, on purpose)

sys.exit(main(early_stops=_stops))
