"""Functions that the data tests run as jobs (a module of the test project: it travels by
value, and so do the globals its functions use)."""

from __future__ import annotations

import numpy as np

# A global the function below uses: it travels with the function (by value).
WEIGHTS = np.arange(20_000, dtype=np.float64)  # 160 KB: over pickle's 64 KiB frame


def echo(value):
    """Return what came in, so the test compares both directions."""
    return value


def weighted(x):
    return float((x * WEIGHTS[: len(x)]).sum())


def total(x):
    return float(x.sum())


def make_array(nbytes: int):
    return np.arange(nbytes, dtype=np.uint8)


def describe(value):
    """What the job saw: the types and sizes of a nest of values."""
    import pandas as pd

    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, bool(value.flags.f_contiguous))
    if isinstance(value, pd.DataFrame):
        return ("DataFrame", list(value.columns), len(value))
    if isinstance(value, memoryview):
        return ("memoryview", value.format, value.shape)
    return (type(value).__name__, len(value) if hasattr(value, "__len__") else None)
