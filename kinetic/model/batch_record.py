"""What ``batches/BATCH_ID/batch.json`` holds: the record of a fan-out (pure data and rules).

The caller writes it once, when ``f.run_async_map(...)`` submits the batch; whoever drives
the batch (the local batch supervisor) and whoever finds it again (``kinetic.attach_batch``,
``kinetic batches``) reads it back. It never grows with the items' progress: each item is
an ordinary job, ``BATCH_ID-INDEX``, with its own records (kinetic.store.layout).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.model.json_record import JsonRecord
from kinetic.model.status import JobState, JobStatus

DEFAULT_MAX_CONCURRENT = 64
INPUT_MODES = ("auto", "single", "args", "kwargs")
# How much of an item's input a failure shows (its repr): enough to recognise it.
INPUT_REPR_LIMIT = 200
# Batch ids leave room for "-INDEX" within a job id's 63 characters (up to 9,999,999 items).
BATCH_ID_MAX = 55


def item_job_id(batch_id: str, index: int) -> str:
    """The job id of item ``index``: predictable, so ``batch.jobs[i]`` needs no listing."""
    return f"{batch_id}-{index}"


@dataclass
class BatchRecord(JsonRecord):
    batch_id: str
    backend: str
    store: str
    function: str  # "module.qualname"
    created: str
    count: int
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    retries: int = 0
    fail_fast: bool = False
    cancel_running_on_fail: bool = False
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    input_mode: str = "auto"
    function_sha256: str | None = None  # the function, pickled once for every item

    def job_ids(self) -> list[str]:
        return [item_job_id(self.batch_id, i) for i in range(self.count)]


@dataclass(frozen=True)
class ItemFailure:
    """One item that did not succeed: which, with what input, why, and its exception."""

    index: int
    job_id: str
    input_repr: str
    reason: str | None
    exception: BaseException | None

    def __str__(self) -> str:
        what = f"{type(self.exception).__name__}: {self.exception}" if self.exception else ""
        return f"item {self.index} ({self.input_repr}) {self.reason or 'failed'}: {what}".rstrip()


def check_batch_options(
    max_concurrent: object, retries: object, fail_fast: object, cancel_running_on_fail: object,
    input_mode: object, tags: object,
) -> None:  # fmt: skip
    """Refuse a bad option before anything is created, saying what would be accepted."""
    from kinetic.model.retry_policy import MAX_RETRIES

    if (
        isinstance(max_concurrent, bool)
        or not isinstance(max_concurrent, int)
        or max_concurrent < 1
    ):
        raise SpecError("max_concurrent", max_concurrent, "a whole number from 1")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise SpecError("retries", retries, f"a whole number from 0 to {MAX_RETRIES}")
    for option, value in (("fail_fast", fail_fast),
                          ("cancel_running_on_fail", cancel_running_on_fail)):  # fmt: skip
        if not isinstance(value, bool):
            raise SpecError(option, value, "True or False")
    if input_mode not in INPUT_MODES:
        raise SpecError("input_mode", input_mode, f"one of {', '.join(INPUT_MODES)}")
    if tags is not None and (
        not isinstance(tags, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise SpecError("tags", tags, "a dict of strings to strings, or None")


def call_arguments(item: object, mode: str, index: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The function's ``(args, kwargs)`` for one input.

    ``single``: the item is the one argument; ``args``: a tuple or list of arguments;
    ``kwargs``: a dict of keyword arguments; ``auto``: a tuple is arguments, a dict keyword
    arguments, anything else the one argument (a list stays one argument: it is data)."""
    if mode == "auto":
        mode = (
            "args" if isinstance(item, tuple) else "kwargs" if isinstance(item, dict) else "single"
        )
    if mode == "single":
        return (item,), {}
    if mode == "args":
        if not isinstance(item, tuple | list):
            raise SpecError(
                f"inputs[{index}]", item, "a tuple or list of arguments (input_mode='args')"
            )
        return tuple(item), {}
    if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
        raise SpecError(
            f"inputs[{index}]", item, "a dict of keyword arguments (input_mode='kwargs')"
        )
    return (), dict(item)


def materialize_inputs(inputs: object) -> list[Any]:
    """Any iterable's items, in order; refused if it is not one or it is empty.

    A str or bytes is refused: mapping over its characters is almost never what was meant."""
    if isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise SpecError("inputs", _bounded(inputs), "an iterable of inputs (a list, a range…)")
    items = list(inputs)
    if not items:
        raise SpecError("inputs", _bounded(items), "at least one input")
    return items


def input_repr(item: object) -> str:
    return _bounded(item)


def _bounded(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__}: repr failed: {exc}>"
    return text if len(text) <= INPUT_REPR_LIMIT else text[: INPUT_REPR_LIMIT - 1] + "…"


def count_statuses(states: Iterable[JobState]) -> dict[str, int]:
    """``{"SUCCEEDED": 912, "RUNNING": 32, …}``: only the statuses present, in JobStatus order."""
    counts = {s.value: 0 for s in JobStatus}
    for state in states:
        counts[state.status.value] += 1
    return {k: v for k, v in counts.items() if v}
