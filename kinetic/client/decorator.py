"""``@kinetic.run(...)``: a function becomes a job; ``f(...)`` blocks, ``f.run_async(...)`` not."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from kinetic.client.handle import JobHandle
from kinetic.model.batch_record import DEFAULT_MAX_CONCURRENT
from kinetic.model.errors import SpecError
from kinetic.spec.dependency_options import check_depends_on
from kinetic.spec.job_spec import JobSpec

if TYPE_CHECKING:
    from kinetic.client.batch_handle import BatchHandle

P = ParamSpec("P")
R = TypeVar("R")


def _unpickle_function(data: bytes) -> Callable[..., Any]:
    import cloudpickle

    return cloudpickle.loads(data)


class RemoteFunction(Generic[P, R]):
    """A function that runs as a job. Pickles as the plain function it wraps.

    Typed like the function: ``train(3)`` is whatever ``train`` returns, to a type checker
    as at run time; ``train.run_async(3)`` is a JobHandle.
    """

    def __init__(self, fn: Callable[P, R], spec: JobSpec):
        _check_callable(fn)
        self.fn, self.spec = fn, spec
        functools.update_wrapper(self, fn)

    def run_async(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Start the job and return its handle once it is durably recorded and started.

        A JobHandle among the arguments (or inside lists, tuples, dicts) makes this job
        wait for that one and receive its value; ``depends_on=[handle or id, ...]`` (taken
        here, not passed to the function) adds ordering without a value
        (docs/pipelines.md)."""
        from kinetic.client.submit import submit

        spec = self.spec
        if "depends_on" in kwargs:
            extra = check_depends_on(kwargs.pop("depends_on"))
            spec = dataclasses.replace(spec, depends_on=(*spec.depends_on, *extra))
        return submit(self.fn, args, kwargs, spec)

    def run_async_map(
        self,
        inputs: Iterable[Any],
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        retries: int = 0,
        fail_fast: bool = False,
        cancel_running_on_fail: bool = False,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        input_mode: str = "auto",
        notify: Any = None,
        notify_on: Any = None,
    ) -> BatchHandle:
        """Run the function once per input as a batch of jobs; return its handle once it is
        recorded and its driver started (it runs to its end without this process).

        ``input_mode``: "auto" (a tuple is positional arguments, a dict keyword arguments,
        anything else the one argument), "single", "args" or "kwargs". ``notify``/``notify_on``
        (default: the function's, else the config file's): ONE summary when the batch
        ends, not one message per item (docs/notifications.md). See docs/batches.md."""
        from kinetic.client.batch_submit import submit_batch

        return submit_batch(
            self.fn, inputs, self.spec, max_concurrent=max_concurrent, retries=retries,
            fail_fast=fail_fast, cancel_running_on_fail=cancel_running_on_fail, name=name,
            tags=tags, input_mode=input_mode, notify=notify, notify_on=notify_on,
        )  # fmt: skip

    def map(self, inputs: Iterable[Any], **options: Any) -> list[Any]:
        """``run_async_map`` and wait, with a progress line: the values in input order.
        Raises BatchError if an item failed; Ctrl-C cancels the batch."""
        batch = self.run_async_map(inputs, **options)
        try:
            batch.wait()
        except KeyboardInterrupt:
            print(f"\n[kinetic] interrupted: cancelling batch {batch.batch_id}…", file=sys.stderr)
            batch.cancel(wait=False)
            raise
        return batch.results()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the job, showing its output live, and return its value (or raise its error)."""
        handle = self.run_async(*args, **kwargs)
        try:
            handle.logs(follow=True)
            return handle.result()
        except KeyboardInterrupt:
            # As Ctrl-C on a local program: the job is interrupted at once and ends
            # CANCELLED, then KeyboardInterrupt is raised here. A second Ctrl-C stops waiting.
            print(f"\n[kinetic] interrupted: cancelling job {handle.job_id}…", file=sys.stderr)
            try:
                state = handle.cancel(wait=True)
                print(f"[kinetic] job {handle.job_id}: {state.status.value}", file=sys.stderr)
            except KeyboardInterrupt:
                print(f"[kinetic] not waiting; job {handle.job_id} is being cancelled",
                      file=sys.stderr)  # fmt: skip
            raise

    def __reduce__(self):
        # Inside a job (or a multiprocessing pool) the function should just run.
        import cloudpickle

        return _unpickle_function, (cloudpickle.dumps(self.fn),)

    def __repr__(self) -> str:
        return f"<kinetic job function {self.fn.__qualname__} {self.spec.accelerator}>"


def _check_callable(fn: object) -> None:
    if isinstance(fn, classmethod | staticmethod):
        kind = type(fn).__name__
        raise SpecError(
            "function", fn,
            f"a plain function: @kinetic.run cannot wrap a {kind} object (put it below "
            f"@{kind}, or decorate a module-level function)",
        )  # fmt: skip
    if not callable(fn):
        raise SpecError(
            "function", fn, f"a callable: @kinetic.run needs a function, not a {type(fn).__name__}"
        )
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise SpecError(
            "function", getattr(fn, "__qualname__", repr(fn)),
            "a plain function: @kinetic.run cannot run an async function; wrap it in a "
            "plain function that calls asyncio.run(...)",
        )  # fmt: skip
    if inspect.isgeneratorfunction(fn):
        raise SpecError(
            "function", getattr(fn, "__qualname__", repr(fn)),
            "a plain function: @kinetic.run cannot run a generator function (its result "
            "would be a generator, which cannot travel back); return a list instead",
        )  # fmt: skip


@overload
def run(fn: Callable[P, R], /) -> RemoteFunction[P, R]: ...


@overload
def run(fn: None = None, /, **options: Any) -> Callable[[Callable[P, R]], RemoteFunction[P, R]]: ...


def run(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Decorate a function so it runs as a job.

    Options (all validated here, before anything runs): ``accelerator`` ("cpu", "l4",
    "a100-80gbx8", "v5litepod-8"…), ``backend`` ("local" | "kubernetes"), ``store``
    (file:// or gs:// URI), ``name``, ``env`` (dict), ``capture_env`` (names or PREFIX*
    patterns), ``timeout`` (seconds), ``grace_period`` (seconds, default 30),
    ``namespace`` and ``image`` (kubernetes), ``cpu``/``memory``/``ephemeral_storage``
    (Kubernetes quantities, see kinetic.spec.resources) and ``cpu_cores`` (local pinning),
    ``runtime``, ``volumes`` and ``network`` (kubernetes; see kinetic.spec.placement).

    Use as ``@kinetic.run`` or ``@kinetic.run(accelerator="l4", timeout=3600)``.
    """
    spec = JobSpec.from_options(**options)
    _check_for_backend(spec)
    if fn is not None:
        return RemoteFunction(fn, spec)
    return lambda f: RemoteFunction(f, spec)


def _check_for_backend(spec: JobSpec) -> None:
    """Refuse now an option the backend (given, or configured) can never honour, rather
    than at the first call. Checks that depend on the moment (a port in use, a cluster
    object) wait for submission, where they run again with the rest."""
    from kinetic.backends import get_backend
    from kinetic.spec import settings

    get_backend(settings.resolve("backend", spec.backend).value).check_options(spec)
