"""Batches (f.run_async_map) on the local backend, printed as JSON.

    python benchmarks/bench_batch.py [--items 1000] [--max-concurrent 8]

* the time for ``run_async_map`` to return (every item recorded, the driver started), and
  the caller's CPU time for it;
* the time until every result is collected (``results()``), from the call;
* the same function over the same inputs with ``concurrent.futures.ProcessPoolExecutor``
  (the same number of workers): the floor for processes on this machine; and the ratio.

Everything runs against a temporary file:// store and Kinetic home.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def noop(x):
    return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--max-concurrent", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinetic-bench-batch-"))
    os.environ["KINETIC_STORE"] = (tmp / "store").as_uri()
    os.environ["KINETIC_HOME"] = str(tmp / "home")
    os.environ["KINETIC_CONFIG"] = str(tmp / "no-config.toml")
    import kinetic

    fn = kinetic.run()(noop)
    fn.run_async(0).result(timeout=60)  # warm caches (cloudpickle import, store dirs)
    inputs = list(range(args.items))

    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(args.max_concurrent) as pool:
        baseline_values = list(pool.map(noop, inputs))
    baseline = time.perf_counter() - start
    assert baseline_values == inputs

    start, cpu = time.perf_counter(), time.process_time()
    batch = fn.run_async_map(inputs, max_concurrent=args.max_concurrent)
    returned = time.perf_counter() - start
    returned_cpu = time.process_time() - cpu
    values = batch.results(timeout=3600)
    collected = time.perf_counter() - start
    assert values == inputs
    print(json.dumps({
        "items": args.items,
        "max_concurrent": args.max_concurrent,
        "run_async_map_return_s": round(returned, 3),
        # The caller's CPU time for it: what a loaded machine's wall time hides.
        "run_async_map_cpu_s": round(returned_cpu, 3),
        "all_results_s": round(collected, 2),
        "items_per_s": round(args.items / collected, 1),
        "process_pool_map_s": round(baseline, 3),
        "ratio_to_process_pool": round(collected / baseline, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "python": sys.version.split()[0],
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
