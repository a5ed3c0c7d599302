"""In the worker: each dependency's value in place of its marker in the arguments.

Where it sits: ``execute`` (worker.py) calls ``fill_in`` right after the payload loads.
The markers (kinetic.wire.dependency_ref.DependencyRef) were put there by the caller; the
keys and digests of the results come from ``KINETIC_DEPENDENCY_RESULTS``, set by whoever
saw every dependency succeed (the local runner, or the operator in the pod's spec). Each
value is read from the store once, refused unless its digest matches, and shared by every
place that names it. A batch's marker becomes the list of its items' values.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kinetic.model.errors import KineticError
from kinetic.store import Store
from kinetic.wire.dependency_ref import (
    RESULTS_ENV,
    BatchRef,
    DependencyRef,
    batch_item_results,
    refs_in,
    replace_nested,
)
from kinetic.wire.framing import load_framed
from kinetic.wire.payload import Payload


def fill_in(store: Store, payload: Payload) -> Payload:
    """``payload`` with every marker replaced by its job's value."""
    wanted = refs_in([payload.args, payload.kwargs])
    if not wanted:
        return payload
    results = json.loads(os.environ.get(RESULTS_ENV) or "{}")
    values = {dep_id: _value(store, dep_id, results.get(dep_id)) for dep_id in wanted}

    def swap(item: Any) -> Any:
        if isinstance(item, DependencyRef):
            return values[item.job_id]
        if isinstance(item, BatchRef):
            return list(values[item.batch_id])  # a list of its own for each place
        return None

    payload.args = tuple(replace_nested(list(payload.args), swap))
    payload.kwargs = replace_nested(payload.kwargs, swap)
    return payload


def _value(store: Store, dep_id: str, where: dict | None) -> Any:
    """A job's value, or a batch's list of its items' values (in input order)."""
    if where is not None and "batch" in where:
        items = batch_item_results(dep_id, where)
        return [_load(store, f"{dep_id} (item {i})", item) for i, item in enumerate(items)]
    return _load(store, dep_id, where)


def _load(store: Store, job_id: str, where: dict | None) -> Any:
    if not where or not where.get("key") or not where.get("sha256"):
        raise KineticError(
            f"the value of dependency {job_id} cannot be passed in: no record of its result "
            "vouches for it"
        )
    envelope = load_framed(store, where["key"], where["sha256"])
    if not getattr(envelope, "success", False):
        raise KineticError(f"dependency {job_id} recorded no value (it did not succeed)")
    return envelope.value
