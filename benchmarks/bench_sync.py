"""Figures of the continuous output sync (``output_sync``), printed as JSON.

    python benchmarks/bench_sync.py [--size-mb 1000] [--period 60] [--count 3] [--small 10000]

* a checkpoint of ``--size-mb`` written every ``--period`` seconds (``--count`` times) by a
  separate writer process, synced by an OutputSync (the runner's, kinetic.job.output_sync)
  in this process: the CPU seconds and peak-memory growth (VmHWM) of this process while it
  syncs, and the time from the checkpoint's close to its arrival in the store (file:// and
  the gs:// emulator);
* a job (local backend, file:// store) writing ``--small`` small files into its output
  directory with the sync on (10 s) and off (``output_sync=None``): the job's own time and
  the whole run's, the slowdown between the two.

It starts its own fake-gcs-server (tests/gcs_support.py) and uses temporary directories.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

WRITER = """
import os, sys, time
path, size, period, count = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
block = os.urandom(1 << 20)
for n in range(count):
    started = time.time()
    with open(path, "wb") as f:
        for _ in range(size):
            f.write(block)
    print(time.time(), flush=True)  # closed
    time.sleep(max(0.0, period - (time.time() - started)))
"""


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def checkpoint_figures(store_uri: str, size_mb: int, period: float, count: int) -> dict:
    from kinetic.job.output_sync import OutputSync
    from kinetic.store import open_store

    store = open_store(store_uri)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "output")
        out.mkdir()
        sync = OutputSync(store, "bench-sync", 1, out, 10.0, lambda text: None)
        rss_before, cpu_before = peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF)
        sync.start()
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(out / "ckpt.bin"), str(size_mb), str(period),
             str(count)], stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        lags = []
        for line in writer.stdout:
            closed = float(line)
            final = os.stat(out / "ckpt.bin")
            while (st := sync.stored.get("ckpt.bin")) is None or st.mtime_ns != final.st_mtime_ns:
                time.sleep(0.01)
            lags.append(time.time() - closed)
        writer.wait()
        sync.finish()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
            cpu_before.ru_utime + cpu_before.ru_stime
        )
        return {
            "store": store_uri.split(":")[0],
            "checkpoint_mb": size_mb,
            "period_s": period,
            "checkpoints": count,
            "sync_cpu_s_per_checkpoint": round(cpu / count, 2),
            "sync_peak_rss_growth_mb": round(peak_rss_mb() - rss_before, 1),
            "close_to_store_s": [round(x, 2) for x in lags],
        }


def small_files_figures(n: int) -> dict:
    import jobfns_bench  # written by main(), into a temporary directory

    import kinetic

    figures = {}
    for label, interval in (("sync_on", 10.0), ("sync_off", None)):
        started = time.monotonic()
        job_s = kinetic.run(output_sync=interval)(jobfns_bench.write_many)(n)
        figures[label] = {"job_s": round(job_s, 2), "run_s": round(time.monotonic() - started, 2)}
    on, off = figures["sync_on"], figures["sync_off"]
    figures["job_slowdown"] = round(on["job_s"] / off["job_s"], 2)
    figures["run_slowdown"] = round(on["run_s"] / off["run_s"], 2)
    figures["files"] = n
    return figures


BENCH_FNS = """
import time
import kinetic


def write_many(n):
    started = time.monotonic()
    out = kinetic.output_dir()
    for i in range(n):
        (out / f"f{i:05d}.txt").write_text(f"file {i}\\n")
    time.sleep(2)  # the sync catches up with the last ones meanwhile
    return time.monotonic() - started - 2
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--period", type=float, default=60)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--small", type=int, default=10000)
    parser.add_argument("--stores", default="file,gs", help="which stores' checkpoint runs")
    args = parser.parse_args()
    stores = set(args.stores.split(","))
    from gcs_support import GCSEmulator

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        os.environ["KINETIC_STORE"] = Path(tmp, "store").as_uri()
        Path(tmp, "jobfns_bench.py").write_text(BENCH_FNS)
        sys.path.insert(0, tmp)
        if "file" in stores:
            results["checkpoint_file"] = checkpoint_figures(
                Path(tmp, "store").as_uri(), args.size_mb, args.period, args.count
            )
            print(json.dumps(results["checkpoint_file"]), file=sys.stderr, flush=True)
        if "gs" in stores:
            # Objects on disk: three 1 GB versions would not fit the emulator's memory.
            with GCSEmulator(root=str(Path(tmp, "gcs"))) as emulator:
                os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
                bucket = emulator.create_bucket()
                results["checkpoint_gs"] = checkpoint_figures(
                    f"gs://{bucket}", args.size_mb, args.period, args.count
                )
            print(json.dumps(results["checkpoint_gs"]), file=sys.stderr, flush=True)
        if args.small:
            results["small_files"] = small_files_figures(args.small)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
