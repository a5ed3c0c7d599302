"""Figures of the gs:// store against a local GCS emulator, printed as JSON.

    python benchmarks/bench_gcs.py [--size-mb 256] [--repeats 5] [--log-samples 10]

* a payload uploaded and a result downloaded through the store (``Store.upload`` /
  ``Store.download``: streaming, SHA-256 on the fly, checksum verified) next to plain
  google-cloud-storage ``upload_from_file`` / ``download_to_file`` of the same bytes against
  the same emulator; throughput both ways and the ratio (median of the repeats, the two
  alternating so neither gets a warmer emulator);
* the client's peak memory (RSS high-water mark, VmHWM) during the upload through the
  store, measured in a child process that does only that, next to the payload size (and
  the same for the plain client, for reference). Linux only (/proc/self/status);
* the time from a ``print`` in a running job (local backend, gs:// store) to the line
  arriving in a ``stream_logs()`` follower (p50, max).

It starts its own fake-gcs-server (tests/gcs_support.py) on a free loopback port and
touches nothing else: the store, Kinetic's home and the payload file are temporary.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MB = 1000 * 1000
MiB = 1024 * 1024

RSS_SCRIPT = """
import sys

def status(field):
    # VmHWM/VmRSS belong to this process image; ru_maxrss would carry the parent's
    # high-water mark across fork+exec.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

mode, uri, path = sys.argv[1:4]
if mode == "store":
    from kinetic.store import open_store
    store = open_store(uri)
    store.exists("warm-up")  # create the client before the baseline
    def upload(f):
        store.upload("bench/rss.bin", f)
else:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    bucket = storage.Client(project="bench", credentials=AnonymousCredentials()).bucket(
        uri[len("gs://"):].split("/")[0])
    bucket.blob("warm-up").exists()
    def upload(f):
        bucket.blob("bench/rss-plain.bin").upload_from_file(f)
base = status("VmRSS")
with open(path, "rb") as f:
    upload(f)
print(base, status("VmHWM"))
"""


def printer(samples: int, gap: float) -> int:
    """The job: print a timestamped line every ``gap`` seconds."""
    import time as _time

    for i in range(samples):
        print(f"MARK {i} {_time.time():.6f}", flush=True)
        _time.sleep(gap)
    return samples


def make_payload(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def bench_transfers(uri: str, bucket_name: str, path: Path, repeats: int) -> dict:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from kinetic.store import open_store

    store = open_store(uri)
    bucket = storage.Client(project="bench", credentials=AnonymousCredentials()).bucket(bucket_name)
    size = path.stat().st_size
    out = path.with_suffix(".out")
    times: dict[str, list[float]] = {
        k: [] for k in ("store_up", "plain_up", "store_down", "plain_down")
    }

    def timed(name: str, fn) -> None:
        started = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - started)

    def store_up() -> None:
        with path.open("rb") as f:
            store.upload("bench/payload.bin", f)

    def plain_up() -> None:
        with path.open("rb") as f:
            bucket.blob("kinetic/bench/plain.bin").upload_from_file(f)

    def store_down() -> None:
        with out.open("wb") as f:
            store.download("bench/payload.bin", f)

    def plain_down() -> None:
        with out.open("wb") as f:
            bucket.blob("kinetic/bench/plain.bin").download_to_file(f)

    store.exists("warm-up")  # both clients connected before anything is timed
    bucket.blob("warm-up").exists()
    for i in range(repeats):
        order = [("store_up", store_up), ("plain_up", plain_up)]
        order += [("store_down", store_down), ("plain_down", plain_down)]
        if i % 2:
            order = [order[1], order[0], order[3], order[2]]
        for name, fn in order:
            timed(name, fn)
    out.unlink(missing_ok=True)

    def rate(name: str) -> float:
        return round(size / statistics.median(times[name]) / MB, 1)

    result = {
        "payload_bytes": size,
        "repeats": repeats,
        "upload_store_MBps": rate("store_up"),
        "upload_plain_MBps": rate("plain_up"),
        "download_store_MBps": rate("store_down"),
        "download_plain_MBps": rate("plain_down"),
        "all_seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }
    result["upload_ratio"] = round(result["upload_store_MBps"] / result["upload_plain_MBps"], 3)
    result["download_ratio"] = round(
        result["download_store_MBps"] / result["download_plain_MBps"], 3
    )
    return result


def bench_memory(uri: str, path: Path) -> dict:
    size = path.stat().st_size
    result: dict = {"payload_bytes": size}
    for mode in ("store", "plain"):
        done = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, mode, uri, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        base, peak = map(int, done.stdout.split())
        result[f"{mode}_baseline_rss_MB"] = round(base / MB, 1)
        result[f"{mode}_peak_rss_MB"] = round(peak / MB, 1)
        result[f"{mode}_peak_over_payload"] = round(peak / size, 3)
    return result


def bench_log_latency(uri: str, samples: int) -> dict:
    import kinetic

    gap = 0.73  # not a multiple of the flush or poll intervals: samples land at all phases
    job = kinetic.run(store=uri)(printer).run_async(samples, gap)
    delays = []
    for line in job.stream_logs():
        arrived = time.time()
        if line.startswith("MARK "):
            delays.append(arrived - float(line.split()[2]))
    job.result(timeout=60)
    return {
        "samples": len(delays),
        "p50_s": round(statistics.median(delays), 3),
        "max_s": round(max(delays), 3),
        "all_s": [round(d, 3) for d in delays],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=256, help="payload size in MiB")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--log-samples", type=int, default=10)
    args = parser.parse_args()

    from gcs_support import GCSEmulator

    with tempfile.TemporaryDirectory(prefix="kinetic-bench-gcs-") as tmp, GCSEmulator() as emu:
        os.environ["STORAGE_EMULATOR_HOST"] = emu.url
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        os.environ["KINETIC_CONFIG"] = str(Path(tmp, "no-config.toml"))
        os.environ.pop("KINETIC_GCS_RETRY_DEADLINE", None)
        os.environ.pop("KINETIC_GCS_CHUNK_MB", None)
        bucket = emu.create_bucket("kinetic-bench")
        uri = f"gs://{bucket}/kinetic"
        payload = Path(tmp, "payload.bin")
        make_payload(payload, args.size_mb * MiB)
        report = {
            "emulator": "fake-gcs-server (memory backend, loopback)",
            "cpus": os.cpu_count(),
            "transfer": bench_transfers(uri, bucket, payload, args.repeats),
            "memory": bench_memory(uri, payload),
            "log_latency": bench_log_latency(uri, args.log_samples),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
