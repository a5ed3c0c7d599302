"""``@kinetic.run(...)``: a function becomes a job; ``f(...)`` blocks, ``f.run_async(...)`` not."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from kinetic.client.handle import JobHandle
from kinetic.model.errors import SpecError
from kinetic.spec.job_spec import JobSpec


def _unpickle_function(data: bytes) -> Callable[..., Any]:
    import cloudpickle

    return cloudpickle.loads(data)


class RemoteFunction:
    """A function that runs as a job. Pickles as the plain function it wraps."""

    def __init__(self, fn: Callable[..., Any], spec: JobSpec):
        _check_callable(fn)
        self.fn, self.spec = fn, spec
        functools.update_wrapper(self, fn)

    def run_async(self, *args: Any, **kwargs: Any) -> JobHandle:
        """Start the job and return its handle once it is durably recorded and started."""
        from kinetic.client.submit import submit

        return submit(self.fn, args, kwargs, self.spec)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
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


def run(fn: Callable[..., Any] | None = None, /, **options: Any):
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
    if fn is not None:
        return RemoteFunction(fn, spec)
    return lambda f: RemoteFunction(f, spec)
