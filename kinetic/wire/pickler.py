"""The pickler both ends use for what crosses the store: payload.pkl (caller → job) and
result.pkl (job → caller). kinetic.wire.framing runs it; nothing else pickles those.

It is cloudpickle's, at protocol 5, with two differences:

* a function's code keeps its real file name. cloudpickle writes ``<dynamic-code>`` for
  every function it ships by value, so a job's traceback would not say where the user's
  failing line is; with the real name it does (and, where the file exists, shows the line);
* a memoryview travels as a memoryview of the same format and shape, its memory written
  straight from the view (cloudpickle copies it into a bytes object).
"""

from __future__ import annotations

import io
import pickle
import types
from collections import ChainMap
from collections.abc import Callable
from typing import Any

_DYNAMIC_CODE = "<dynamic-code>"


def _rebuild_memoryview(buffer: Any, fmt: str, shape: tuple[int, ...]) -> memoryview:
    view = memoryview(buffer)
    # typeshed types cast() per literal format; the format here is the original view's.
    return view.cast("B").cast(fmt, shape) if shape else view  # type: ignore[call-overload]


def _memoryview_reduce(view: memoryview) -> tuple[Any, ...]:
    if view.c_contiguous:
        return _rebuild_memoryview, (pickle.PickleBuffer(view), view.format, view.shape)
    return _rebuild_memoryview, (view.tobytes(), view.format, view.shape)


def _pickler_class() -> type:
    """cloudpickle.Pickler with our two reducers (built on first use: cloudpickle is a heavy
    import, and `import kinetic` stays light)."""
    global _PICKLER
    if _PICKLER is not None:
        return _PICKLER
    import cloudpickle
    from cloudpickle import cloudpickle as impl

    def code_reduce(code: types.CodeType) -> tuple[Any, ...]:
        rebuild, args = impl._code_reduce(code)
        # co_filename is the one argument cloudpickle replaces; put the real one back.
        args = tuple(code.co_filename if a == _DYNAMIC_CODE else a for a in args)
        return rebuild, args

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # cloudpickle has no types
        dispatch_table = ChainMap(
            {types.CodeType: code_reduce, memoryview: _memoryview_reduce},
            cloudpickle.Pickler.dispatch_table,
        )

    _PICKLER = Pickler
    return Pickler


_PICKLER: type | None = None


def dump(obj: object, file: Any, buffer_callback: Callable[[Any], Any] | None = None) -> None:
    """Pickle ``obj`` into ``file`` at protocol 5: buffers (an array's data) are handed to
    ``file.write`` as they are, without a copy, or to ``buffer_callback`` (out of band)
    when it returns false for them."""
    _pickler_class()(file, protocol=5, buffer_callback=buffer_callback).dump(obj)


def dumps(obj: object) -> bytes:
    buffer = io.BytesIO()
    dump(obj, buffer)
    return buffer.getvalue()
