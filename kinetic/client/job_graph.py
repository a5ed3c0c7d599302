"""The graph around a job (or a batch) for `kinetic jobs tree`: what it waits for, all the
way up, and what waits for it, all the way down. A batch is one node with its items'
counts (``8/10 succeeded, 1 failed``), never one node per item.

Where it sits: the CLI (kinetic/cli/tree_commands.py) asks ``job_graph`` and draws the
nodes and edges with kinetic/cli/graph_text.py. The edges come from each job's spec
(``depends_on``: job and batch ids) upwards, and from the dependents' markers
(kinetic.client.dependencies) downwards; states from each job's backend, a batch's from
its BatchHandle.
"""

from __future__ import annotations

from typing import Any

from kinetic.backends import get_backend
from kinetic.client.batch_handle import BatchHandle, counts_line
from kinetic.client.dependencies import all_dependents, batch_dependents, is_batch
from kinetic.model.batch_record import BatchRecord
from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobStatus
from kinetic.store import ObjectNotFound, Store, layout, open_store

Node = dict[str, Any]


def job_graph(root: JobRecord | BatchRecord) -> tuple[list[Node], list[tuple[str, str]]]:
    """``root``'s dependencies (transitively) and dependents (transitively): nodes (job id,
    function, status, reason, duration; a batch's ``kind``, ``items`` and ``counts``) and
    edges (dependency → dependent)."""
    store = open_store(root.store)
    root_id = root.job_id if isinstance(root, JobRecord) else root.batch_id
    found: dict[str, JobRecord | BatchRecord | None] = {root_id: root}
    edges: set[tuple[str, str]] = set()
    up: list[JobRecord] = [root] if isinstance(root, JobRecord) else []
    while up:  # what it waits for, from each job's spec
        current = up.pop()
        for dep in current.spec.get("depends_on") or []:
            edges.add((dep, current.job_id))
            if dep not in found:
                found[dep] = _maybe(store, dep)
                if isinstance(found[dep], JobRecord):
                    up.append(found[dep])  # type: ignore[arg-type]
    down = [root_id]
    while down:  # what waits for it, from the markers: a batch's first, then each job's
        node_id = down.pop()
        below = (batch_dependents(store, node_id) if isinstance(found.get(node_id), BatchRecord)
                 else all_dependents(store, node_id))  # fmt: skip
        for child in below:
            record = found.get(child) or _maybe(store, child)
            if not isinstance(record, JobRecord):
                continue
            found[child] = record
            edges.update((dep, child) for dep in record.spec.get("depends_on") or [])
            if isinstance(found.get(node_id), BatchRecord):
                down.append(child)  # its own dependents, through the job's markers
            for dep in record.spec.get("depends_on") or []:
                if dep not in found:
                    found[dep] = _maybe(store, dep)
    nodes = [_node(dep_id, record) for dep_id, record in found.items()]
    known = set(found)
    return nodes, sorted(e for e in edges if e[0] in known and e[1] in known)


def _node(dep_id: str, record: JobRecord | BatchRecord | None) -> Node:
    if record is None:
        return {"job_id": dep_id, "status": "NOT_FOUND"}
    if isinstance(record, BatchRecord):
        return batch_node(BatchHandle(record))
    state = get_backend(record.backend).state(record)
    return {"job_id": dep_id, "function": record.function, "status": state.status.value,
            "reason": state.reason, "message": state.message,
            "duration": state.duration}  # fmt: skip


def batch_node(batch: BatchHandle) -> Node:
    """A batch as one node: its status from its items' (RUNNING while any item has not
    ended; then SUCCEEDED if all did, FAILED if any failed, else CANCELLED) and counts."""
    states = batch.states()
    counts = {s.value: 0 for s in JobStatus}
    for state in states:
        counts[state.status.value] += 1
    counts = {k: v for k, v in counts.items() if v}
    if not all(s.status.is_terminal for s in states):
        started = any(s.status != JobStatus.PENDING for s in states)
        status = JobStatus.RUNNING if started else JobStatus.PENDING
    elif counts.get("SUCCEEDED", 0) == len(states):
        status = JobStatus.SUCCEEDED
    else:
        status = JobStatus.FAILED if counts.get("FAILED") else JobStatus.CANCELLED
    begun = [s.started for s in states if s.started]
    ended = [s.finished for s in states if s.finished]
    duration = None
    if begun and ended and status.is_terminal:
        duration = (max(ended) - min(begun)).total_seconds()
    return {"job_id": batch.batch_id, "kind": "batch", "function": batch.record.function,
            "status": status.value, "reason": None, "items": len(states), "counts": counts,
            "summary": counts_line(counts, len(states)), "duration": duration}  # fmt: skip


def _maybe(store: Store, dep_id: str) -> JobRecord | BatchRecord | None:
    try:
        return JobRecord.from_json(store.read_bytes(layout.handle_key(dep_id)).decode())
    except ObjectNotFound:
        pass
    if is_batch(store, dep_id):
        return BatchRecord.from_json(store.read_bytes(layout.batch_key(dep_id)))
    return None


__all__ = ["batch_node", "job_graph"]
