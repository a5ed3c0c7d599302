"""What the benchmarks share: timing a call over several samples (figures in ms).

Imported by the benchmark scripts, which run as ``python benchmarks/bench_X.py`` (their
own folder is then first on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], samples: int) -> dict:
    """``fn()`` called ``samples`` times: the median, the 90th percentile (nearest rank)
    and the fastest call, in milliseconds."""
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(times) * 1000, 1),
            "p90_ms": round(ordered[round(0.9 * (len(ordered) - 1))] * 1000, 1),
            "min_ms": round(ordered[0] * 1000, 1), "samples": samples}  # fmt: skip
