"""A job's value as another job's argument: the marker that travels in the payload.

Where it sits in the flow: the caller (kinetic.client.dependencies) replaces every
JobHandle found in a job's arguments by a ``DependencyRef`` before the payload is pickled,
so the value itself never travels through the caller. Inside the dependent job the worker
(kinetic.job.dependency_values) swaps each marker for the dependency's stored result, read
with the digest that the dependency's own record vouches for. Those digests reach the
worker in ``KINETIC_DEPENDENCY_RESULTS`` (JSON ``{job_id: {"key", "sha256"}}``): the local
runner sets it once it has seen every dependency succeed, the operator sets it in the pod
it creates once every dependency's KineticJob says SUCCEEDED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The environment variable that carries the dependencies' result keys and digests.
RESULTS_ENV = "KINETIC_DEPENDENCY_RESULTS"


@dataclass(frozen=True)
class DependencyRef:
    """Stands for the return value of job ``job_id`` (in the same store as the job)."""

    job_id: str

    def __repr__(self) -> str:
        return f"<value of job {self.job_id}>"


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
    """The job ids of the markers in ``value`` (nested as replace_nested looks), in order."""
    found: list[str] = []

    def note(item: Any) -> None:
        if isinstance(item, DependencyRef) and item.job_id not in found:
            found.append(item.job_id)
        return None

    replace_nested(value, note)
    return found
