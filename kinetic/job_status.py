"""``kinetic.job_status``: where keras-team/kinetic's documentation imports JobStatus from.

A public name only (the façade layer); the vocabulary itself is kinetic.model.status's.
"""

from kinetic.model.status import JobStatus

__all__ = ["JobStatus"]
