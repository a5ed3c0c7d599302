"""The slurm backend's figures on the local SLURM cluster, printed as JSON.

    scripts/slurm-node.sh up          # as root; see docs/slurm.md
    python benchmarks/bench_slurm.py [--samples 10] [--jobs 1000]

* run_async() return time for a no-op function on backend="slurm" (the sbatch call
  included), next to a bare ``sbatch --wrap true`` (its return time), same run;
* submit -> result round trip of the no-op, next to ``sbatch --wrap true`` polled with
  ``squeue`` until it is COMPLETED the same way (every 0.05 s), alternating which goes first;
* list_jobs() over ``--jobs`` SLURM jobs: records in a file:// store whose launch records
  point at real SLURM jobs (one squeue call for all of them, their state.json unfinished).

Everything runs against a temporary file:// store and Kinetic home.
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


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "n": len(values),
    }


def bare_sbatch() -> tuple[float, float]:
    """(sbatch return time, round trip until squeue says COMPLETED)."""
    start = time.perf_counter()
    out = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    submitted = time.perf_counter() - start
    job = out.strip().split(";")[0]
    while True:
        state = subprocess.run(["squeue", "-h", "--states=all", "-j", job, "-o", "%T"],
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        if state in ("COMPLETED", "FAILED", "CANCELLED"):
            return submitted, time.perf_counter() - start
        time.sleep(0.05)


def kinetic_noop() -> tuple[float, float]:
    import kinetic

    start = time.perf_counter()
    job = kinetic.run(backend="slurm")(noop).run_async()
    submitted = time.perf_counter() - start
    while not job.state().status.is_terminal:
        time.sleep(0.05)
    total = time.perf_counter() - start
    assert job.result(cleanup=True) is None
    return submitted, total


def listing(count: int) -> dict:
    """list_jobs() over ``count`` jobs whose launch records name real (finished) SLURM jobs."""
    import kinetic
    from kinetic.model.job_record import JobRecord
    from kinetic.store import layout, open_store

    store = open_store(os.environ["KINETIC_STORE"])
    ids = []
    for _ in range(20):  # real SLURM jobs; the records share them
        out = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        ids.append(out.strip())
    for i in range(count):
        job_id = f"bench-{i:05d}"
        record = JobRecord(
            job_id,
            "slurm",
            store.uri,
            "bench.noop",
            f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        )
        store.write_bytes(layout.handle_key(job_id), record.to_json().encode())
        running = {"status": "RUNNING", "attempts": 1, "node": "localhost"}
        store.write_bytes(layout.state_key(job_id), json.dumps(running).encode())
        launch = {"slurm_job_id": ids[i % len(ids)], "output": "/dev/null"}
        store.write_bytes(layout.launch_key(job_id), json.dumps(launch).encode())
    time.sleep(2)  # let the 20 SLURM jobs finish (their state is what the listing reports)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        rows = kinetic.list_jobs()
        times.append(time.perf_counter() - start)
        assert len(rows) == count
    return {"jobs": count, **summary(times)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinetic-bench-slurm-"))
    os.environ.update(KINETIC_STORE=(tmp / "store").as_uri(), KINETIC_HOME=str(tmp / "home"),
                      KINETIC_CONFIG=str(tmp / "none.toml"))  # fmt: skip
    kinetic_noop()  # warm: the batch script is written, imports are loaded
    bare_sbatch()
    k_submit, k_total, b_submit, b_total = [], [], [], []
    for i in range(args.samples):
        order = [kinetic_noop, bare_sbatch] if i % 2 == 0 else [bare_sbatch, kinetic_noop]
        for fn in order:
            submitted, total = fn()
            (k_submit if fn is kinetic_noop else b_submit).append(submitted)
            (k_total if fn is kinetic_noop else b_total).append(total)
    os.environ["KINETIC_STORE"] = (tmp / "listing").as_uri()
    result = {
        "python": sys.version.split()[0],
        "submit": {"kinetic_run_async": summary(k_submit), "bare_sbatch": summary(b_submit)},
        "noop_round_trip": {"kinetic": summary(k_total), "bare_sbatch_wrap_true": summary(b_total)},
        "list_jobs": listing(args.jobs),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
