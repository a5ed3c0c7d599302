"""In the caller: pickling the payload, with the caller's own modules shipped by value.

cloudpickle pickles functions by reference to their module; a job may not have the
caller's project on its path, so modules loaded from outside the interpreter's and
site-packages' trees travel by value. When pickling fails, the culprit is named.
"""

from __future__ import annotations

import contextlib
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from kinetic.wire.framing import Framed, frame
from kinetic.wire.payload import Payload
from kinetic.wire.version_skew import fingerprint


def client_fingerprint() -> dict[str, str]:
    """Python, cloudpickle and Kinetic versions: the job checks them before it unpickles."""
    return fingerprint()


# -- caller's modules travel by value ------------------------------------------------------
def _installed_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return [Path(r).resolve() for r in roots]


def project_modules() -> list[str]:
    """Top-level modules loaded from outside the interpreter's and site-packages' trees.

    Those are the caller's own code: a job may not have them on its path, so cloudpickle
    must ship them by value instead of by reference.
    """
    roots = _installed_roots()
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in found or top in ("__main__", "kinetic", "kinetic_operator"):
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if any(root in path.parents for root in roots):
            continue
        if top in sys.modules:
            found.add(top)
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


def frame_payload(payload: Payload) -> Framed:
    with _by_value(project_modules()):
        return frame(payload, culprit=lambda: _find_culprit(payload))
