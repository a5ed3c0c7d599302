"""A big NumPy array as a job's argument and as its return value (local backend), printed
as JSON, next to ``np.save`` + ``np.load`` of the same array to the same disk in the same run.

    python benchmarks/bench_data.py [--mb 1024] [--store file|gs]

Each case runs in a fresh interpreter so its peak RSS (``ru_maxrss``) is its own:

* baseline: ``np.save`` then ``np.load`` of the array, in the store's directory;
* argument: ``run_async(total, array)`` (submit time), then ``result()`` (round trip);
* return: ``run_async(make, n)``, a job that builds the array and returns it; ``result()``.

The runner's peak RSS is read from ``/proc/<pid>/status`` (VmHWM) of the runner and its
worker while the job runs. Throughput is the array's size over the wall time; the ratio is
ours over the baseline's (the target is >= 0.5), RSS over the array's size (target <= 2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def total(x):
    return float(x.sum())


def make(n):
    return np.ones(n // 8)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RunnerWatch:
    """Samples the peak RSS of a job's runner and its worker (the runner's children)."""

    def __init__(self, store_dir: Path, job_id: str):
        from kinetic.store import layout

        self.launch = store_dir / layout.launch_key(job_id, 1)
        self.peak = {"runner_mb": 0.0, "worker_mb": 0.0}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pid = None
        while not self.done.is_set():
            if pid is None and self.launch.exists():
                pid = json.loads(self.launch.read_text())["pid"]
            if pid is not None:
                self.peak["runner_mb"] = max(self.peak["runner_mb"], _hwm_mb(pid))
                children = Path(f"/proc/{pid}/task/{pid}/children")
                try:
                    kids = [int(c) for c in children.read_text().split()]
                except OSError:
                    kids = []
                for kid in kids:
                    self.peak["worker_mb"] = max(self.peak["worker_mb"], _hwm_mb(kid))
            time.sleep(0.01)

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        return {k: round(v) for k, v in self.peak.items()}


def case(name: str, nbytes: int, store_dir: Path) -> dict:
    if name == "baseline":
        array = np.ones(nbytes // 8)
        path = store_dir / "baseline.npy"
        t0 = time.perf_counter()
        np.save(path, array)
        t1 = time.perf_counter()
        back = np.load(path)
        t2 = time.perf_counter()
        assert back.shape == array.shape
        path.unlink()
        return {"save_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0,
                "client_peak_rss_mb": round(peak_rss_mb())}  # fmt: skip
    import kinetic

    kinetic.run()(total).run_async(np.ones(1)).result(timeout=120)  # warm imports
    if name == "argument":
        array = np.ones(nbytes // 8)
        t0 = time.perf_counter()
        job = kinetic.run()(total).run_async(array)
        t1 = time.perf_counter()
        watch = RunnerWatch(store_dir, job.job_id)
        assert job.result(timeout=3600) == float(len(array))
        t2 = time.perf_counter()
        return {"submit_s": t1 - t0, "total_s": t2 - t0, **watch.stop(),
                "client_peak_rss_mb": round(peak_rss_mb())}  # fmt: skip
    t0 = time.perf_counter()
    job = kinetic.run()(make).run_async(nbytes)
    watch = RunnerWatch(store_dir, job.job_id)
    back = job.result(timeout=3600)
    t1 = time.perf_counter()
    assert back.nbytes == nbytes // 8 * 8
    return {"total_s": t1 - t0, **watch.stop(), "client_peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024, help="the array's size in MiB")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    nbytes = args.mb * 1024 * 1024
    if args.case:
        print(json.dumps(case(args.case, nbytes, Path(args.dir))))
        return
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-data-", dir=os.getcwd()) as tmp:
        store_dir = Path(tmp) / "store"
        store_dir.mkdir()
        env = {**os.environ, "KINETIC_STORE": store_dir.as_uri(), "KINETIC_BACKEND": "local",
               "KINETIC_HOME": str(Path(tmp) / "home")}  # fmt: skip
        results = {}
        for name in ("baseline", "argument", "return"):
            out = subprocess.run(
                [sys.executable, __file__, "--mb", str(args.mb), "--case", name, "--dir",
                 str(store_dir)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["baseline"]["total_s"]
    mb = nbytes / 2**20
    report = {
        "array_mb": args.mb,
        **{
            k: {f: round(v, 3) if isinstance(v, float) else v for f, v in r.items()}
            for k, r in results.items()
        },
        "throughput_vs_save_load": {
            "argument": round(base / results["argument"]["total_s"], 2),
            "return": round(base / results["return"]["total_s"], 2),
        },
        "peak_rss_over_array": {
            "client_argument": round(results["argument"]["client_peak_rss_mb"] / mb, 2),
            "client_return": round(results["return"]["client_peak_rss_mb"] / mb, 2),
            "worker_argument": round(results["argument"]["worker_mb"] / mb, 2),
            "worker_return": round(results["return"]["worker_mb"] / mb, 2),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
