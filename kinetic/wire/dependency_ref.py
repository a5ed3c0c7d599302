"""A job's value as another job's argument: the marker that travels in the payload.

Where it sits in the flow: the caller (kinetic.client.dependencies) replaces every
JobHandle found in a job's arguments by a ``DependencyRef`` before the payload is pickled,
so the value itself never travels through the caller. Inside the dependent job the worker
(kinetic.job.dependency_values) swaps each marker for the dependency's stored result, read
with the digest that the dependency's own record vouches for. Those digests reach the
worker in ``KINETIC_DEPENDENCY_RESULTS`` (JSON ``{job_id: {"key", "sha256"}}``): the local
runner sets it once it has seen every dependency succeed, the operator sets it in the pod
it creates once every dependency's KineticJob says SUCCEEDED.

A batch (f.run_async_map's BatchHandle) in the arguments becomes a ``BatchRef``: the list
of its items' values, in input order. Its entry in that variable is ``{"batch": [[attempt,
sha256], ...]}``, one pair per item (compact: it travels in a pod's environment), the
items' result keys following from the batch's id (``batch_item_results``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kinetic.model.batch_record import item_job_id
from kinetic.store.layout import result_key

# The environment variable that carries the dependencies' result keys and digests.
RESULTS_ENV = "KINETIC_DEPENDENCY_RESULTS"


@dataclass(frozen=True)
class DependencyRef:
    """Stands for the return value of job ``job_id`` (in the same store as the job)."""

    job_id: str

    def __repr__(self) -> str:
        return f"<value of job {self.job_id}>"


@dataclass(frozen=True)
class BatchRef:
    """Stands for the list of the values of batch ``batch_id``'s items, in input order."""

    batch_id: str
    count: int

    def __repr__(self) -> str:
        return f"<values of batch {self.batch_id} ({self.count} items)>"


def batch_item_results(batch_id: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch's entry of the results variable as one ``{"key", "sha256"}`` per item."""
    return [{"key": result_key(item_job_id(batch_id, index), int(attempt)), "sha256": sha256}
            for index, (attempt, sha256) in enumerate(entry.get("batch") or [])]  # fmt: skip


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def replace_nested(value: Any, swap: Callable[[Any], Any | None]) -> Any:
    """``value`` with every item for which ``swap`` returns something other than None
    replaced by that, looking inside lists, tuples (named ones too) and dicts. Other
    containers are left whole: their insides are the user's business."""
    swapped = swap(value)
    if swapped is not None:
        return swapped
    kind = type(value)
    if kind is list:
        return [replace_nested(v, swap) for v in value]
    if kind is tuple:
        return tuple(replace_nested(v, swap) for v in value)
    if _is_namedtuple(value):
        return kind(*(replace_nested(v, swap) for v in value))
    if kind is dict:
        return {k: replace_nested(v, swap) for k, v in value.items()}
    return value


def refs_in(value: Any) -> list[str]:
    """The job (and batch) ids of the markers in ``value`` (nested as replace_nested
    looks), in order."""
    found: list[str] = []

    def note(item: Any) -> None:
        if isinstance(item, DependencyRef) and item.job_id not in found:
            found.append(item.job_id)
        if isinstance(item, BatchRef) and item.batch_id not in found:
            found.append(item.batch_id)
        return None

    replace_nested(value, note)
    return found
