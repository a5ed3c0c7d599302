"""In the caller: pickling the payload, with the caller's own modules shipped by value.

cloudpickle pickles functions by reference to their module; a job may not have the
caller's project on its path, so modules loaded from outside the interpreter's and
site-packages' trees travel by value. When pickling fails, the culprit is named.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from kinetic.store import Store
from kinetic.wire.framing import Framed, frame
from kinetic.wire.payload import Payload
from kinetic.wire.version_skew import fingerprint


def client_fingerprint() -> dict[str, str]:
    """Python, cloudpickle and Kinetic versions: the job checks them before it unpickles."""
    return fingerprint()


# -- caller's modules travel by value ------------------------------------------------------
@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return tuple(Path(r).resolve() for r in roots)


# What each module in sys.modules was found to be: name -> (the module object's id, its
# top-level package if it is the caller's own code, else None). Resolving a module's file
# costs tens of microseconds, and a caller with numpy, pandas and kubernetes imported has
# thousands of modules: each is judged once, when it first shows up (or is replaced).
_judged: dict[str, tuple[int, str | None]] = {}


def _judge(name: str, module: object) -> str | None:
    top = name.partition(".")[0]
    if top in ("__main__", "kinetic", "kinetic_operator"):
        return None
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    if any(root in path.parents for root in _installed_roots()):
        return None
    return top


def project_modules() -> list[str]:
    """Top-level modules loaded from outside the interpreter's and site-packages' trees.

    Those are the caller's own code: a job may not have them on its path, so cloudpickle
    must ship them by value instead of by reference.
    """
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        seen = _judged.get(name)
        if seen is None or seen[0] != id(module):
            seen = _judged[name] = (id(module), _judge(name, module))
        if seen[1] is not None and seen[1] in sys.modules:
            found.add(seen[1])
    return sorted(found)


@contextlib.contextmanager
def _by_value(modules: list[str]) -> Iterator[None]:
    import cloudpickle

    registered = []
    for name in modules:
        try:
            cloudpickle.register_pickle_by_value(sys.modules[name])
            registered.append(name)
        except (ValueError, KeyError):
            pass
    try:
        yield
    finally:
        for name in registered:
            with contextlib.suppress(ValueError, KeyError):
                cloudpickle.unregister_pickle_by_value(sys.modules[name])


# -- framing -------------------------------------------------------------------------------
def _describe(obj: object) -> str:
    return type(obj).__qualname__


def _find_culprit(payload: Payload) -> str:
    import cloudpickle

    candidates: list[tuple[str, object]] = [("the function", payload.function)]
    candidates += [(f"argument {i} ({_describe(a)})", a) for i, a in enumerate(payload.args, 1)]
    candidates += [
        (f"keyword argument {k!r} ({_describe(v)})", v) for k, v in payload.kwargs.items()
    ]
    for label, obj in candidates:
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            return f"{label} cannot be pickled: {type(exc).__name__}: {exc}"
    return "the payload cannot be pickled"


def frame_payload(payload: Payload, store: Store | None = None) -> Framed:
    """The framed payload, written where ``store`` can adopt it without a copy if it can."""
    with _by_value(project_modules()):
        return frame(payload, culprit=lambda: _find_culprit(payload), store=store)


def frame_function(fn: object, store: Store | None = None) -> Framed:
    """A batch's function framed on its own (stored once for all its items)."""
    with _by_value(project_modules()):
        return frame(fn, store=store,
                     culprit=lambda: _find_culprit(Payload(fn)))  # type: ignore[arg-type]  # fmt: skip


@contextlib.contextmanager
def project_by_value() -> Iterator[None]:
    """Within it, the caller's modules travel by value: judged once for many payloads (a
    batch's items), with ``frame_in_project``."""
    with _by_value(project_modules()):
        yield


def frame_in_project(payload: Payload) -> Framed:
    """A small payload framed in memory (inside ``project_by_value``): a batch's item holds
    only its arguments, and a store's scratch file would cost more than the pickle."""
    return frame(payload, culprit=lambda: _find_culprit(payload))
