"""Listing the jobs a store holds, with their states asked of each backend in bulk.

The default ``Backend.list_jobs``: the store is the list of every job submitted to it,
whichever backend runs them.
"""

from __future__ import annotations

from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobState, JobStatus
from kinetic.store import ObjectNotFound, layout, open_store


def store_rows(uri: str) -> list[tuple[JobRecord, JobState]]:
    """Every job recorded in the store at ``uri``, newest first, with its state."""
    from kinetic.backends import get_backend

    st = open_store(uri)
    records = []
    for job_id in st.list_children(layout.JOBS):
        try:
            records.append(JobRecord.from_json(st.read_bytes(layout.handle_key(job_id)).decode()))
        except (ObjectNotFound, ValueError):
            continue  # a job being created or deleted right now
    records.sort(key=lambda r: r.created, reverse=True)
    by_backend: dict[str, list[JobRecord]] = {}
    for r in records:
        by_backend.setdefault(r.backend, []).append(r)
    states: dict[str, JobState] = {}
    for name, group in by_backend.items():
        for r, s in zip(group, get_backend(name).states(group), strict=True):
            states[r.job_id] = s
    # NOT_FOUND: deleted while listing, or a submission not committed (never shown).
    return [
        (r, states[r.job_id]) for r in records if states[r.job_id].status != JobStatus.NOT_FOUND
    ]
