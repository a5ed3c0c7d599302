"""``depends_on=``: the jobs a job waits for, checked before anything is created.

Where it sits: JobSpec (spec/job_spec.py) keeps the dependency ids, so handle.json and the
KineticJob record them and the runner (kinetic.job.dependency_wait) or the operator holds
the job until they succeed. Handles (of jobs, or of whole batches) are accepted here and
kept as their ids; that each id names a job (or batch) in the job's own store (and
namespace) is the client's check at submission (kinetic.client.dependencies), which can
read the store.
"""

from __future__ import annotations

from typing import Any

from kinetic.model.errors import InvalidJobIdError, SpecError
from kinetic.model.job_record import JobRecord
from kinetic.store.layout import validate_job_id

ACCEPTED = "a list of job handles, batch handles, or their ids"


def check_depends_on(value: Any) -> tuple[str, ...]:
    """The ids, in order, each once."""
    if value is None:
        return ()
    single = isinstance(value, str | JobRecord) or _batch_id(value) is not value
    items = [value] if single else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise SpecError("depends_on", value, ACCEPTED)
    ids: list[str] = []
    for item in items:
        job_id = item.job_id if isinstance(item, JobRecord) else _batch_id(item)
        try:
            validate_job_id(job_id)
        except InvalidJobIdError:
            raise SpecError("depends_on", item, ACCEPTED) from None
        if job_id not in ids:
            ids.append(job_id)
    return tuple(ids)


def _batch_id(item: Any) -> Any:
    """A batch handle's id (kinetic.client.batch_handle, a layer above: known by its
    ``batch_id`` and ``record``); anything else as it is."""
    batch_id = getattr(item, "batch_id", None)
    if isinstance(batch_id, str) and hasattr(item, "record"):
        return batch_id
    return item
