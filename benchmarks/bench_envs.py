"""Figures of job environments (requirements=) and project shipping (working_dir=), as JSON.

    python benchmarks/bench_envs.py [--samples 15]

* job start overhead: submit -> result round trip of a no-op with a cached ~50 MB
  environment, against the same job with no requirements (p50 of each, and the difference);
* first build: the first job's round trip with 30 requirements (offline wheels,
  --find-links) against a plain ``python -m venv`` + ``pip install`` of the same
  requirements into a fresh venv, in the same run;
* working_dir: ``run_async()`` of a job shipping a 5,000-file project, first (uploaded),
  then unchanged (nothing uploaded) with the file-digest cache and, the baseline in the
  same run, without it (every file read and hashed again). ``--only working_dir`` runs
  just this.

Everything runs offline against a temporary file:// store and Kinetic home.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from wheel_support import build_wheel


def noop():
    return None


def p50(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def round_trips(fn, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn.run_async().result(timeout=600)
        times.append(time.perf_counter() - start)
    return times


def bench_start_overhead(tmp: Path, samples: int) -> dict:
    import kinetic

    wheels = tmp / "big-wheels"
    build_wheel(wheels, "benchbig", "1.0", padding=50 * 1024 * 1024)
    reqs = ["benchbig", "--no-index", f"--find-links={wheels}"]
    with_env = kinetic.run(requirements=reqs)(noop)
    plain = kinetic.run()(noop)
    with_env.run_async().result(timeout=600)  # builds it once
    plain.run_async().result(timeout=60)
    cached, bare = [], []
    for _ in range(samples):  # interleaved, so a change in the machine's load hits both
        cached += round_trips(with_env, 1)
        bare += round_trips(plain, 1)
    return {"cached_env_p50_ms": p50(cached), "no_env_p50_ms": p50(bare),
            "overhead_p50_ms": round(p50(cached) - p50(bare), 1), "samples": samples}  # fmt: skip


def bench_first_build(tmp: Path) -> dict:
    import kinetic

    wheels = tmp / "wheels"
    names = [f"benchpkg{i:02d}" for i in range(30)]
    for name in names:
        build_wheel(wheels, name, "1.0", padding=200 * 1024)
    options = ["--no-index", f"--find-links={wheels}"]
    start = time.perf_counter()
    kinetic.run(requirements=[*names, *options])(noop).run_async().result(timeout=600)
    ours = time.perf_counter() - start
    venv = tmp / "plain-venv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    *options, *names], check=True)  # fmt: skip
    plain = time.perf_counter() - start
    from kinetic.job.environment import find_uv

    return {"first_job_round_trip_s": round(ours, 2), "plain_venv_pip_install_s": round(plain, 2),
            "ratio": round(ours / plain, 2), "installer": "uv" if find_uv() else "pip"}  # fmt: skip


def bench_working_dir(tmp: Path, samples: int) -> dict:
    """First submission (read, hashed, uploaded); then unchanged resubmissions, interleaved:
    with the caller's digest cache (kinetic.client.project_digests: nothing read) and,
    as the baseline in the same run, with that cache removed first (every file read and
    hashed, as before the cache existed)."""
    import shutil

    import kinetic
    from kinetic.client.project_digests import CACHE_DIR
    from kinetic.model.kinetic_home import kinetic_home
    from kinetic.spec.project_files import RACY_NS

    project = tmp / "project"
    for i in range(5000):
        path = project / f"pkg{i % 50:02d}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n" + "# padding\n" * 20)
    time.sleep(RACY_NS / 1e9 + 0.2)  # files changed just before a read are read again
    os.chdir(project)
    fn = kinetic.run(working_dir=".")(noop)

    def submit() -> tuple[float, dict]:
        start = time.perf_counter()
        job = fn.run_async()
        took = time.perf_counter() - start
        job.result(timeout=120)
        return took, job.client["project"]

    took, first = submit()
    results: dict = {"first_run_async_ms": round(took * 1000, 1), "first_read": first["read"],
                     "first_uploaded": first["uploaded"]}  # fmt: skip
    cold, warm, reads = [], [], {"cold": set(), "warm": set()}
    for _ in range(samples):
        shutil.rmtree(kinetic_home() / CACHE_DIR, ignore_errors=True)
        took, seen = submit()
        cold.append(took)
        reads["cold"].add(seen["read"])
        took, seen = submit()
        warm.append(took)
        reads["warm"].add(seen["read"])
        assert not seen["uploaded"]
    results.update(
        unchanged_no_digest_cache_p50_ms=p50(cold),
        unchanged_no_digest_cache_read=sorted(reads["cold"]),
        unchanged_p50_ms=p50(warm), unchanged_read=sorted(reads["warm"]),
        speedup=round(statistics.median(cold) / statistics.median(warm), 2),
    )  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--only", choices=["start_overhead", "first_build", "working_dir"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-envs-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["KINETIC_HOME"] = str(tmp / "home")
        os.environ["KINETIC_STORE"] = (tmp / "store").as_uri()
        os.environ["KINETIC_BACKEND"] = "local"
        os.environ["KINETIC_CONFIG"] = str(tmp / "no-config.toml")
        benches = {
            "start_overhead": lambda: bench_start_overhead(tmp, args.samples),
            "first_build": lambda: bench_first_build(tmp),
            "working_dir": lambda: bench_working_dir(tmp, args.samples),
        }
        figures = {name: run() for name, run in benches.items() if args.only in (None, name)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
