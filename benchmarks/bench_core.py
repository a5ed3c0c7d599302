"""Core figures of the local backend, printed as JSON.

    python benchmarks/bench_core.py [--samples 30]

* run_async() return time for a no-op function (p50, p90);
* submit -> result round trip for a no-op, next to a bare ``python -c "import cloudpickle"``
  process started the same way (detached, new session) and waited for;
* ``import kinetic`` in a fresh interpreter;
* list_jobs() over 1,000 and 10,000 recorded (finished) jobs.

Everything runs against a temporary file:// store; nothing of the user's is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def noop():
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p90_ms": round(percentile(values, 0.9) * 1000, 2),
        "min_ms": round(min(values) * 1000, 2),
        "samples": len(values),
    }


def bench_run_async(samples: int) -> tuple[dict, dict]:
    import kinetic

    fn = kinetic.run()(noop)
    fn.run_async().result(timeout=60)  # warm caches (cloudpickle import, store dirs)
    submit, round_trip = [], []
    for _ in range(samples):
        t0 = time.perf_counter()
        job = fn.run_async()
        t1 = time.perf_counter()
        job.result(timeout=60)
        t2 = time.perf_counter()
        submit.append(t1 - t0)
        round_trip.append(t2 - t0)
    return summary(submit), summary(round_trip)


def bench_bare_process(samples: int) -> dict:
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "import cloudpickle"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        proc.wait()
        times.append(time.perf_counter() - t0)
    return summary(times)


def bench_import(samples: int) -> dict:
    code = "import time; t = time.perf_counter(); import kinetic; print(time.perf_counter() - t)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(samples)
    ]  # fmt: skip
    return summary(times)


def make_records(count: int) -> None:
    """Write finished jobs' records exactly as the local backend does."""
    from kinetic.client.handle import JobHandle
    from kinetic.client.submit import new_job_id
    from kinetic.model.status import JobState, JobStatus, format_time, utcnow
    from kinetic.store import layout, open_store

    store = open_store(os.environ["KINETIC_STORE"])
    for _ in range(count):
        now = utcnow()
        handle = JobHandle(new_job_id("bench"), "local", store.uri, "bench.noop", format_time(now))
        store.write_bytes(layout.handle_key(handle.job_id), handle.to_json().encode())
        state = JobState(JobStatus.SUCCEEDED, created=now, started=now, finished=now, attempts=1)
        store.write_bytes(layout.state_key(handle.job_id), json.dumps(state.to_dict()).encode())


def bench_list(count: int, samples: int = 3) -> dict:
    import kinetic

    have = len(kinetic.list_jobs())
    make_records(count - have)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        rows = kinetic.list_jobs()
        times.append(time.perf_counter() - t0)
    assert len(rows) == count, len(rows)
    return {"jobs": count, **summary(times)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KINETIC_STORE"] = Path(tmp, "store").as_uri()
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        submit, round_trip = bench_run_async(args.samples)
        bare = bench_bare_process(args.samples)
        results = {
            "run_async_return": {**submit, "target_p50_ms": 25},
            "round_trip_noop": round_trip,
            "bare_python_import_cloudpickle": bare,
            "round_trip_ratio_p50": round(round_trip["p50_ms"] / bare["p50_ms"], 2),
            "round_trip_target_ratio": 2.0,
            "import_kinetic": {**bench_import(10), "target_ms": 150},
        }
        # list_jobs over a fresh store of finished jobs only.
        os.environ["KINETIC_STORE"] = Path(tmp, "list-store").as_uri()
        results["list_jobs_1000"] = bench_list(1000)
        results["list_jobs_10000"] = {**bench_list(10000), "target_ms": 1000}
        results["python"] = sys.version.split()[0]
        results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
