"""A job's exception on its way to the caller: recorded in the job (kinetic.job.worker, via
kinetic.wire.payload.failure_envelope), rebuilt in the caller (kinetic.client.results).

Pickling an exception the usual way calls its class with ``exc.args`` when it is loaded,
which fails for any class whose ``__init__`` takes something else (``DataValidationError(
column, n_bad)`` passing a message up to ``Exception``). So the job records each exception
of the chain as parts: its type's name, its class, its args, its attributes, its cause and
context; each part pickled on its own, so one that cannot travel loses only itself. The
caller rebuilds the exception from the parts without calling its ``__init__``: the class
found by name where it is importable (so ``except DataValidationError`` matches), else the
class that travelled; only when there is neither does the caller get a RemoteError.

Secrets: ``mask`` replaces secret values in text; a pickled part whose bytes still contain
a secret (an attribute holding it in some other object) is replaced by its masked text.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable, Sequence
from typing import Any

CHAIN_LIMIT = 20  # causes/contexts recorded per exception (a loop of causes must end)


def _no_mask(text: str) -> str:
    return text


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    """``value`` with secrets masked in its strings (containers walked, other objects by
    their masked repr)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes | bytearray):
        return mask(bytes(value).decode("utf-8", "replace")).encode()
    if isinstance(value, tuple | list):
        return type(value)(_masked(v, mask) for v in value)
    if isinstance(value, dict):
        return {_masked(k, mask): _masked(v, mask) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(repr(value))


def _dumps(value: Any, secrets: list[bytes], mask: Callable[[str], str]) -> bytes | None:
    """``value`` pickled, with any secret in it masked; None if it cannot be pickled."""
    from kinetic.wire.pickler import dumps

    try:
        data = dumps(value)
    except Exception:
        return None
    if any(s in data for s in secrets):
        try:
            data = dumps(_masked(value, mask))
        except Exception:
            return None
        if any(s in data for s in secrets):
            return None
    return data


def record_exception(
    exc: BaseException, mask: Callable[[str], str] = _no_mask, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """The parts of ``exc`` and its chain that travel (see the module docstring)."""
    raw_secrets = [s.encode() for s in secrets if s]
    seen: set[int] = set()

    def part(e: BaseException | None, depth: int) -> dict[str, Any] | None:
        if e is None or id(e) in seen or depth > CHAIN_LIMIT:
            return None
        seen.add(id(e))
        cls = type(e)
        attributes = {}
        for name, value in getattr(e, "__dict__", {}).items():
            if name.startswith("__"):
                continue  # __notes__ and the like are rebuilt by the caller
            data = _dumps(value, raw_secrets, mask)
            attributes[name] = data if data is not None else _dumps(mask(repr(value)), [], mask)
        return {
            "type": f"{cls.__module__}.{cls.__qualname__}",
            "message": mask(str(e)),
            "class": _dumps(cls, raw_secrets, mask),
            "args": _dumps(tuple(e.args), raw_secrets, mask),
            # Built-in exceptions keep state outside args and __dict__ (OSError.filename)
            # that only their own pickling carries.
            "instance": _dumps(e, raw_secrets, mask) if cls.__module__ == "builtins" else None,
            "attributes": attributes,
            "cause": part(e.__cause__, depth + 1),
            "context": part(e.__context__, depth + 1),
            "suppress_context": e.__suppress_context__,
        }

    return part(exc, 0) or {}


def _importable(type_name: str) -> type | None:
    """The class named ``module.qualname`` if this process can import it."""
    module, _, qualname = type_name.rpartition(".")
    while module:
        try:
            obj: Any = importlib.import_module(module)
        except Exception:
            # A nested qualname (Outer.Inner) puts part of the name in "module".
            module, _, head = module.rpartition(".")
            qualname = f"{head}.{qualname}"
            continue
        for attr in qualname.split("."):
            obj = getattr(obj, attr, None)
        return obj if isinstance(obj, type) and issubclass(obj, BaseException) else None
    return None


def _loads(data: bytes | None, default: Any = None) -> Any:
    if data is None:
        return default
    try:
        return pickle.loads(data)
    except Exception:
        return default


def _instantiate(
    cls: type[BaseException], args: tuple[Any, ...], attributes: dict[str, Any]
) -> BaseException:
    """An instance of ``cls`` with ``args`` and ``attributes``, without the class's own
    ``__init__`` (which may want other arguments than ``args``)."""
    exc: BaseException = cls.__new__(cls, *args)
    exc.args = args
    if attributes and hasattr(exc, "__dict__"):
        exc.__dict__.update(attributes)
    return exc


def rebuild(
    record: dict[str, Any], fallback: Callable[[dict[str, Any]], BaseException]
) -> BaseException | None:
    """The exception ``record`` describes, its chain included; ``fallback(part)`` builds
    what stands in for a part whose class cannot be had here."""

    def build(part: dict[str, Any] | None) -> BaseException | None:
        if not part:
            return None
        cls = _importable(part["type"]) or _loads(part.get("class"))
        loaded = _loads(part.get("instance"))  # a built-in's own pickling, if it has one
        exc = loaded if isinstance(loaded, BaseException) else None
        if exc is None and isinstance(cls, type) and issubclass(cls, BaseException):
            args = _loads(part.get("args"), (part.get("message") or "",))
            attributes = {k: _loads(v) for k, v in (part.get("attributes") or {}).items()}
            try:
                exc = _instantiate(cls, tuple(args), attributes)
            except Exception:
                exc = None
        if exc is None:
            exc = fallback(part)
        exc.__cause__ = build(part.get("cause"))
        exc.__context__ = build(part.get("context"))
        exc.__suppress_context__ = bool(part.get("suppress_context"))
        return exc

    return build(record)
