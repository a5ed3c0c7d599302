"""Functions that pipeline tests run as jobs. A module of the test project: it travels by value."""

from __future__ import annotations

import time


def download(n):
    import numpy as np

    return np.arange(n, dtype=np.float64)


def preprocess(raw):
    return raw * 2


def train(clean, epochs=1):
    return {"weights": clean.sum() * epochs, "shape": clean.shape}


def fail_on(value):
    raise ValueError(f"bad input: {value!r}")


def slow(value, seconds):
    time.sleep(seconds)
    return value


def combine(left, right, *, extra=None):
    return {"left": left, "right": right, "extra": extra}


def echo(value):
    return value


def needs_file(path, value):
    """Fails until ``path`` exists: a stage that a retry can fix."""
    import os

    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return value
