"""In the caller: the jobs a new job waits for, found in its arguments and ``depends_on``.

Where it sits: ``submit`` (client/submit.py) calls ``link`` after validating the options
and before pickling. Every JobHandle in the arguments (top level, or inside lists, tuples
and dicts) becomes a ``DependencyRef`` (kinetic.wire.dependency_ref), so the payload holds
no value and no handle, only which job's value goes there; its id joins
``spec.depends_on``. A BatchHandle becomes a ``BatchRef`` (the list of its items' values)
and its batch id joins ``spec.depends_on`` the same way: the job waits for the whole batch.
Each dependency must be a job (or batch) recorded in the same store, on the same backend
(and namespace): anything else is a SpecError before anything is created.

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
from kinetic.model.batch_record import BatchRecord, item_job_id
from kinetic.model.errors import InvalidJobIdError, SpecError
from kinetic.model.job_record import JobRecord
from kinetic.spec.job_spec import JobSpec
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.wire.dependency_ref import BatchRef, DependencyRef, replace_nested

# On kubernetes the items' result digests travel in the dependent pod's environment, where
# one variable holds at most 128 KiB (Linux's MAX_ARG_STRLEN): ~75 bytes an item.
MAX_K8S_BATCH_ITEMS = 1500


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
    handles: dict[str, JobRecord | BatchRecord] = {}

    def swap(item: Any) -> DependencyRef | BatchRef | None:
        if isinstance(item, JobRecord):
            handles.setdefault(item.job_id, item)
            return DependencyRef(item.job_id)
        batch = _batch_of(item)
        if batch is not None:
            handles.setdefault(batch.batch_id, batch)
            return BatchRef(batch.batch_id, batch.count)
        return None

    new_args = tuple(replace_nested(list(args), swap))
    new_kwargs = replace_nested(dict(kwargs), swap)
    ids = list(dict.fromkeys([*handles, *spec.depends_on]))
    if not ids:
        return Linked(args, kwargs, spec)
    batch_items = 0
    for dep_id in ids:
        given = handles.get(dep_id)
        where = given.store if given is not None else None
        if where is not None and where != store.uri:
            raise SpecError(
                "depends_on", dep_id,
                f"a job in this job's store ({store.uri}); it is in {where}",
            )  # fmt: skip
        batch = (
            _batch_recorded(store, dep_id) if not store.exists(layout.handle_key(dep_id)) else None
        )
        if batch is None:
            _check_dependency(_recorded(store, dep_id), spec, extra)
            continue
        batch_items += batch.count
        _check_dependency(_an_item(store, batch), spec, extra, dep_id)
    if spec.backend == "kubernetes" and batch_items > MAX_K8S_BATCH_ITEMS:
        raise SpecError(
            "depends_on", batch_items,
            f"batches of at most {MAX_K8S_BATCH_ITEMS} items in all on kubernetes (their "
            "results' digests travel in the pod's environment); depend on fewer, or collect "
            "the values in a job of its own",
        )  # fmt: skip
    return Linked(new_args, new_kwargs, dataclasses.replace(spec, depends_on=tuple(ids)))


def _an_item(store: Store, batch: BatchRecord) -> JobRecord:
    """An item's record: it says where the batch runs (its backend, its namespace). The
    first one still recorded (results() may have collected some); none: the batch's own."""
    for index in range(batch.count):
        try:
            data = store.read_bytes(layout.handle_key(item_job_id(batch.batch_id, index)))
        except ObjectNotFound:
            continue
        return JobRecord.from_json(data.decode())
    return JobRecord(batch.batch_id, batch.backend, batch.store, batch.function, batch.created)


def _batch_of(item: Any) -> BatchRecord | None:
    """A BatchHandle's record (kinetic.client.batch_handle, which imports the handle that
    imports this module: known by its ``record``)."""
    record = getattr(item, "record", None)
    return record if isinstance(record, BatchRecord) and hasattr(item, "batch_id") else None


def _batch_recorded(store: Store, batch_id: str) -> BatchRecord | None:
    """The batch of that id in ``store``, if it is one (a dependency may be a batch)."""
    try:
        return BatchRecord.from_json(store.read_bytes(layout.batch_key(batch_id)))
    except (ObjectNotFound, InvalidJobIdError):
        return None


def is_batch(store: Store, dep_id: str) -> bool:
    """Whether a dependency id names a batch of ``store`` (not a job)."""
    return (
        not store.exists(layout.handle_key(dep_id)) and _batch_recorded(store, dep_id) is not None
    )


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


def _check_dependency(dep: JobRecord, spec: JobSpec, extra: dict, name: str = "") -> None:
    """``dep`` runs where the new job will; ``name``: the batch it is an item of."""
    name = name or dep.job_id
    if dep.backend != spec.backend:
        raise SpecError(
            "depends_on", name,
            f"a job of the same backend ({spec.backend}); it runs on {dep.backend}",
        )  # fmt: skip
    mine, theirs = extra.get("namespace"), dep.extra.get("namespace")
    if mine != theirs:
        raise SpecError(
            "depends_on", name,
            f"a job in the same namespace ({mine}); it is in {theirs}",
        )  # fmt: skip


def record_dependents(store: Store, job_id: str, dependencies: tuple[str, ...]) -> None:
    """Mark ``job_id`` as waiting for each of ``dependencies`` (before it starts)."""
    for dep in dependencies:
        # A folder per dependent (list_children lists folders, on every store).
        key = f"{_markers(store, dep)}/{job_id}/dependent.json"
        store.write_bytes(key, json.dumps({"job_id": job_id}).encode())


def _markers(store: Store, dep_id: str) -> str:
    """Where a dependency keeps its dependents' markers: under the job, or the batch."""
    if is_batch(store, dep_id):
        return layout.batch_dependents_prefix(dep_id)
    return layout.dependents_prefix(dep_id)


def forget_dependents(store: Store, job_id: str, dependencies: tuple[str, ...]) -> None:
    """Undo record_dependents for a submission that did not go through."""
    for dep in dependencies:
        # A stray marker would name a job that does not exist: readers ignore it.
        with contextlib.suppress(Exception):
            store.delete_prefix(f"{_markers(store, dep)}/{job_id}")


def dependents(store: Store, job_id: str) -> list[str]:
    """The jobs submitted to wait for ``job_id`` (direct ones), oldest marker first."""
    return sorted(store.list_children(layout.dependents_prefix(job_id)))


def batch_dependents(store: Store, batch_id: str) -> list[str]:
    """The jobs submitted to wait for the whole batch ``batch_id``."""
    return sorted(store.list_children(layout.batch_dependents_prefix(batch_id)))


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


__all__ = [
    "Linked",
    "all_dependents",
    "batch_dependents",
    "cancel_dependents",
    "dependents",
    "forget_dependents",
    "is_batch",
    "link",
    "record_dependents",
    "waiting_dependents",
]
