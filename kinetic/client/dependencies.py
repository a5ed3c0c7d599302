"""In the caller: the jobs a new job waits for, found in its arguments and ``depends_on``.

Where it sits: ``submit`` (client/submit.py) calls ``link`` after validating the options
and before pickling. Every JobHandle in the arguments (top level, or inside lists, tuples
and dicts) becomes a ``DependencyRef`` (kinetic.wire.dependency_ref), so the payload holds
no value and no handle, only which job's value goes there; its id joins
``spec.depends_on``. Each dependency must be a job recorded in the same store, on the same
backend (and namespace): anything else is a SpecError before anything is created.

``record_dependents`` leaves a marker under each dependency (``jobs/DEP/dependents/ID/``),
which ``dependents`` reads back: cancel(dependents=True), `kinetic jobs tree` and result()'s
cleanup (which keeps a value that a waiting job still needs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

from kinetic.backends import get_backend
from kinetic.model.errors import SpecError
from kinetic.model.job_record import JobRecord
from kinetic.spec.job_spec import JobSpec
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.wire.dependency_ref import DependencyRef, replace_nested


@dataclasses.dataclass(frozen=True)
class Linked:
    """The arguments with their handles swapped for markers, and the spec naming them all."""

    args: tuple
    kwargs: dict
    spec: JobSpec


def link(args: tuple, kwargs: dict, spec: JobSpec, store: Store, extra: dict) -> Linked:
    """Swap the handles in the arguments for markers and check every dependency.

    ``spec`` is resolved (its store and backend known); ``extra`` is the new job's
    backend fields (its namespace on Kubernetes)."""
    handles: dict[str, JobRecord] = {}

    def swap(item: Any) -> DependencyRef | None:
        if isinstance(item, JobRecord):
            handles.setdefault(item.job_id, item)
            return DependencyRef(item.job_id)
        return None

    new_args = tuple(replace_nested(list(args), swap))
    new_kwargs = replace_nested(dict(kwargs), swap)
    ids = list(dict.fromkeys([*handles, *spec.depends_on]))
    if not ids:
        return Linked(args, kwargs, spec)
    for job_id in ids:
        given = handles.get(job_id)
        if given is not None and given.store != store.uri:
            raise SpecError(
                "depends_on", job_id,
                f"a job in this job's store ({store.uri}); it is in {given.store}",
            )  # fmt: skip
        _check_dependency(_recorded(store, job_id), spec, extra)
    return Linked(new_args, new_kwargs, dataclasses.replace(spec, depends_on=tuple(ids)))


def _recorded(store: Store, job_id: str) -> JobRecord:
    try:
        data = store.read_bytes(layout.handle_key(job_id))
    except ObjectNotFound:
        raise SpecError(
            "depends_on", job_id,
            f"the id of a job recorded in {store.uri} (no such job there: unknown, or "
            "cleaned up)",
        ) from None  # fmt: skip
    return JobRecord.from_json(data.decode())


def _check_dependency(dep: JobRecord, spec: JobSpec, extra: dict) -> None:
    if dep.backend != spec.backend:
        raise SpecError(
            "depends_on", dep.job_id,
            f"a job of the same backend ({spec.backend}); it runs on {dep.backend}",
        )  # fmt: skip
    mine, theirs = extra.get("namespace"), dep.extra.get("namespace")
    if mine != theirs:
        raise SpecError(
            "depends_on", dep.job_id,
            f"a job in the same namespace ({mine}); it is in {theirs}",
        )  # fmt: skip


def record_dependents(store: Store, job_id: str, dependencies: tuple[str, ...]) -> None:
    """Mark ``job_id`` as waiting for each of ``dependencies`` (before it starts)."""
    for dep in dependencies:
        # A folder per dependent (list_children lists folders, on every store).
        key = f"{layout.dependents_prefix(dep)}/{job_id}/dependent.json"
        store.write_bytes(key, json.dumps({"job_id": job_id}).encode())


def forget_dependents(store: Store, job_id: str, dependencies: tuple[str, ...]) -> None:
    """Undo record_dependents for a submission that did not go through."""
    for dep in dependencies:
        # A stray marker would name a job that does not exist: readers ignore it.
        with contextlib.suppress(Exception):
            store.delete_prefix(f"{layout.dependents_prefix(dep)}/{job_id}")


def dependents(store: Store, job_id: str) -> list[str]:
    """The jobs submitted to wait for ``job_id`` (direct ones), oldest marker first."""
    return sorted(store.list_children(layout.dependents_prefix(job_id)))


def all_dependents(store: Store, job_id: str) -> list[str]:
    """Every job waiting for ``job_id``, directly or through others, nearest first."""
    seen: list[str] = []
    frontier = [job_id]
    while frontier:
        nxt = []
        for current in frontier:
            for child in dependents(store, current):
                if child not in seen and child != job_id:
                    seen.append(child)
                    nxt.append(child)
        frontier = nxt
    return seen


def waiting_dependents(store: Store, job_id: str) -> list[str]:
    """Dependents of ``job_id`` not yet ended: they may still read its value."""
    waiting = []
    for child in dependents(store, job_id):
        try:
            record = JobRecord.from_json(store.read_bytes(layout.handle_key(child)).decode())
        except ObjectNotFound:
            continue  # an unfinished submission's marker, or a dependent cleaned up
        if not get_backend(record.backend).state(record).status.is_terminal:
            waiting.append(child)
    return waiting


def cancel_dependents(handle: JobRecord, *, wait: bool, timeout: float | None) -> None:
    """Cancel every job waiting for ``handle`` (the nearest last, so none of them starts
    in between), leaving finished ones as they are."""
    store = open_store(handle.store)
    found = []
    for job_id in reversed(all_dependents(store, handle.job_id)):
        try:
            data = store.read_bytes(layout.handle_key(job_id))
        except ObjectNotFound:
            continue
        found.append(JobRecord.from_json(data.decode()))
    for dependent in found:
        get_backend(dependent.backend).cancel(dependent, wait=False)
    if wait:
        for dependent in found:
            get_backend(dependent.backend).cancel(dependent, wait=True, timeout=timeout)


def job_graph(record: JobRecord) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """``record``'s dependencies (transitively) and dependents (transitively): nodes
    (job id, function, status, reason, duration) and edges (dependency → dependent)."""
    store = open_store(record.store)
    records: dict[str, JobRecord | None] = {record.job_id: record}
    edges: set[tuple[str, str]] = set()
    up = [record]
    while up:  # what it waits for, from each job's spec
        current = up.pop()
        for dep in current.spec.get("depends_on") or []:
            edges.add((dep, current.job_id))
            if dep not in records:
                records[dep] = _maybe(store, dep)
                if records[dep] is not None:
                    up.append(records[dep])  # type: ignore[arg-type]
    for child in all_dependents(store, record.job_id):  # what waits for it, from markers
        found = _maybe(store, child)
        if found is None:
            continue
        records[child] = found
        edges.update((dep, child) for dep in found.spec.get("depends_on") or [])
    nodes: list[dict[str, Any]] = []
    for job_id, found in records.items():
        if found is None:
            nodes.append({"job_id": job_id, "status": "NOT_FOUND"})
            continue
        state = get_backend(found.backend).state(found)
        nodes.append({"job_id": job_id, "function": found.function,
                      "status": state.status.value, "reason": state.reason,
                      "message": state.message, "duration": state.duration})  # fmt: skip
    known = set(records)
    return nodes, sorted(e for e in edges if e[0] in known and e[1] in known)


def _maybe(store: Store, job_id: str) -> JobRecord | None:
    try:
        return JobRecord.from_json(store.read_bytes(layout.handle_key(job_id)).decode())
    except ObjectNotFound:
        return None


__all__ = [
    "Linked",
    "all_dependents",
    "cancel_dependents",
    "dependents",
    "forget_dependents",
    "job_graph",
    "link",
    "record_dependents",
    "waiting_dependents",
]
