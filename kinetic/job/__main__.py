"""``python -m kinetic.job --store URI JOB_ID``: the process that runs a job.

The local backend starts it detached; on Kubernetes it is the container's command. The
supervisor (kinetic.job.supervisor) does the work; this is only the entry point.
"""

import sys

from kinetic.job.supervisor import main

sys.exit(main())
