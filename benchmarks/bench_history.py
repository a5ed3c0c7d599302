"""History and listing over many recorded jobs, printed as JSON.

    python benchmarks/bench_history.py [--sizes 10000 100000] [--samples 3]

For each size, a temporary file:// store is filled with that many ended jobs written
directly in the store's format (tests/history_records.py: every fifth in an older
Kinetic's format), then, with a fresh Kinetic home:

* baselines, in the same run: a bare ``json.load`` of every job's handle.json and
  state.json (what any listing that reads the store itself must at least do), and a bare
  SQLite SELECT of every row of the index (what a listing from the index reads);
* the first ``list_jobs()``, which builds this machine's index from the store;
* ``list_jobs()``, ``list_jobs(limit=20)`` and ``history()`` with the index in place
  (each call still lists the store and re-reads any job not yet ended);
* ``kinetic jobs history``, ``kinetic jobs list --limit 20`` and ``kinetic jobs list``
  (every job, printed to a pipe) as processes (their
  interpreter start included), next to a bare ``python -c "import kinetic"``.

Nothing of the user's is touched. Target: ≤ 1 s at 100,000 jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from history_records import write_store  # noqa: E402
from timing_support import timed  # noqa: E402


def bare_json_load(store_dir: Path) -> int:
    count = 0
    jobs = store_dir / "jobs"
    for name in os.listdir(jobs):
        for file in ("handle.json", "state.json"):
            with open(jobs / name / file, "rb") as f:
                json.load(f)
        count += 1
    return count


def bare_sqlite_select(uri: str) -> int:
    """Every row of the store's index fetched as stored, in the listing's order: what
    ``list_jobs()`` reads before it builds anything (the least any index-backed listing
    must do)."""
    from kinetic.store import open_store
    from kinetic.store.listing_index import index_path

    conn = sqlite3.connect(index_path(open_store(uri).uri))
    try:
        sql = "SELECT head, body FROM jobs ORDER BY created DESC, job_id DESC"
        return len(conn.execute(sql).fetchall())
    finally:
        conn.close()


def process(args: list[str]) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True, timeout=600)


def bench_size(tmp: Path, count: int, samples: int) -> dict:
    import kinetic
    from kinetic.client.job_history import history

    store_dir = tmp / f"store-{count}"
    os.environ["KINETIC_STORE"] = store_dir.as_uri()
    os.environ["KINETIC_HOME"] = str(tmp / f"home-{count}")
    t0 = time.perf_counter()
    write_store(store_dir.as_uri(), count)
    generated = time.perf_counter() - t0
    assert bare_json_load(store_dir) == count
    result: dict = {"jobs": count, "generate_s": round(generated, 1)}
    result["baseline_json_load_every_record"] = timed(lambda: bare_json_load(store_dir), samples)
    t0 = time.perf_counter()
    assert len(kinetic.list_jobs()) == count
    result["first_list_jobs_builds_index_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    result["baseline_sqlite_select_every_row"] = timed(
        lambda: bare_sqlite_select(store_dir.as_uri()), samples
    )
    assert bare_sqlite_select(store_dir.as_uri()) == count
    result["list_jobs"] = timed(kinetic.list_jobs, samples)
    result["list_jobs_limit_20"] = timed(lambda: kinetic.list_jobs(limit=20), samples)
    result["history_api"] = timed(lambda: history(limit=20), samples)
    assert history(limit=0).total.count == count
    cli = ["-m", "kinetic.cli", "jobs"]
    result["cli_jobs_history"] = timed(lambda: process([*cli, "history"]), samples)
    result["cli_jobs_list_limit_20"] = timed(lambda: process([*cli, "list", "--limit", "20"]),
                                             samples)  # fmt: skip
    result["cli_jobs_list_all"] = timed(lambda: process([*cli, "list"]), samples)
    result["cli_bare_import_kinetic"] = timed(lambda: process(["-c", "import kinetic"]), samples)
    base = result["baseline_json_load_every_record"]["p50_ms"]
    for key in ("list_jobs", "history_api"):
        result[f"{key}_vs_baseline"] = round(result[key]["p50_ms"] / base, 3)
    select = result["baseline_sqlite_select_every_row"]["p50_ms"]
    result["list_jobs_vs_sqlite_select"] = round(result["list_jobs"]["p50_ms"] / select, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                     "target_ms_at_100000": 1000}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sizes:
            figures = bench_size(Path(tmp), count, args.samples)
            load = [round(x, 1) for x in os.getloadavg()]  # the machine's load: see the docs
            results[str(count)] = {**figures, "loadavg_after": load}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
