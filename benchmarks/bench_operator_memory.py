"""The operator's memory over many job lifecycles, as JSON: does it keep anything of a
job once the job is deleted?

    python benchmarks/bench_operator_memory.py [--jobs 10000] [--batch 1000]

Against the test control plane with the simulated node, like bench_operator.py. The jobs
go through create → finish → delete in batches of ``--batch``: the KineticJobs are created
(each job reports its progress once, so the progress endpoint, its token reviews and the
throttled progress write take part), run to SUCCEEDED, then deleted, and the garbage
collector takes their Jobs and pods. Once nothing of a batch is left and the operator
has given the freed memory back (``memory_trim_delay``, 30 s), its resident memory (VmRSS)
and thread count are sampled. Flat: the sample after the last batch within 10 % of the one
after the first.

``--operator-path DIR`` runs the operator package found in DIR instead (e.g. an earlier
checkout's ``operator/``), to compare.

Needs the control plane binaries (scripts/build-k8s-control-plane.sh); nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import urllib3
from bench_operator import operator_env, rss_mb, submit_jobs, wait_until
from kubernetes import client

from kinetic.k8s.names import GROUP, PLURAL, VERSION
from tests.k8s.controlplane import ControlPlane
from tests.k8s.operator_proc import OperatorProcess, install_crd
from tests.k8s.simnode import SimNode

urllib3.disable_warnings()  # the test API server's self-signed certificate
NAMESPACE = "default"
MANAGED = "app.kubernetes.io/managed-by=kinetic"
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def report_and_count(items: list) -> int:
    """The job: one progress report (pushed to the operator), then its result."""
    import kinetic

    kinetic.report_progress(1.0, "done", items=len(items))
    return len(items)


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def count(api: client.ApiClient) -> dict[str, int]:
    """What is left in the namespace: KineticJobs by phase, Jobs and pods of Kinetic's."""
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL
    )
    kjs = cast(dict, listed)["items"]
    found = {"kineticjobs": len(kjs), "with_progress": 0}
    for kj in kjs:
        status = kj.get("status") or {}
        phase = status.get("phase", "none")
        found[phase] = found.get(phase, 0) + 1
        found["with_progress"] += bool(status.get("progress"))
    found["jobs"] = len(client.BatchV1Api(api).list_namespaced_job(
        NAMESPACE, label_selector=MANAGED).items)  # fmt: skip
    found["pods"] = len(client.CoreV1Api(api).list_namespaced_pod(
        NAMESPACE, label_selector=MANAGED).items)  # fmt: skip
    return found


def ended(api: client.ApiClient) -> int:
    found = count(api)
    return sum(found.get(phase, 0) for phase in ENDED)


def sample(pid: int, settle: float = 35.0, seconds: float = 10.0) -> tuple[float, int]:
    """Median RSS (MB) and the thread count over ``seconds``, after ``settle`` seconds: the
    operator gives memory freed by deletions back within 30 s (memory.py)."""
    time.sleep(settle)
    values = []
    for _ in range(5):
        time.sleep(seconds / 5)
        values.append(rss_mb(pid))
    return round(statistics.median(values), 1), threads(pid)


def run(cp: ControlPlane, api, shared: Path, args, log: Path) -> dict:
    env = operator_env(shared)
    if args.operator_path:
        paths = [args.operator_path, os.environ.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    operator = OperatorProcess(cp.kubeconfig, log, env).start()
    node = SimNode(cp.kubeconfig, name="bench-node", capacity={"pods": "40"}).start()
    custom = client.CustomObjectsApi(api)
    samples = []
    try:
        time.sleep(5)  # initial listing
        rss, nthreads = sample(operator.proc.pid)
        samples.append({"jobs_done": 0, "rss_mb": rss, "threads": nthreads})
        t0 = time.monotonic()
        done = 0
        while done < args.jobs:
            n = min(args.batch, args.jobs - done)
            start = time.monotonic()
            store = shared / f"store-{done}"
            submit_jobs(api, store, n, "mem", report_and_count, (["x"] * 3,))
            wait_until(lambda n=n: ended(api) >= n, 3600, poll=3)
            time.sleep(args.progress_wait)  # the last reports' throttled writes
            found = count(api)
            failed, progress = n - found.get("SUCCEEDED", 0), found["with_progress"]
            ran = time.monotonic() - start
            custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
            wait_until(lambda: not any(count(api).values()), 1800, poll=3)
            shutil.rmtree(store, ignore_errors=True)
            done += n
            rss, nthreads = sample(operator.proc.pid)
            samples.append({"jobs_done": done, "rss_mb": rss, "threads": nthreads,
                            "batch_seconds": round(time.monotonic() - start, 1),
                            "batch_run_seconds": round(ran, 1),
                            "not_succeeded": failed,
                            "with_progress_in_status": progress})  # fmt: skip
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        total = time.monotonic() - t0
    except BaseException:
        print(operator.tail(80), file=sys.stderr)
        raise
    finally:
        node.stop()
        operator.stop()
    first, last = samples[1]["rss_mb"], samples[-1]["rss_mb"]
    growth = round(100 * (last - first) / first, 1)
    return {
        "jobs": args.jobs,
        "batch": args.batch,
        "operator": args.operator_path or "this checkout",
        "samples": samples,
        "rss_after_first_batch_mb": first,
        "rss_after_last_batch_mb": last,
        "growth_first_to_last_pct": growth,
        "flat_within_10_pct": abs(growth) <= 10,
        "total_seconds": round(total, 1),
        "lifecycles_per_second": round(args.jobs / total, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--operator-path", help="run the kinetic_operator package in this dir")
    parser.add_argument("--progress-wait", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp, "shared")
        shared.mkdir()
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        cp = ControlPlane().start()
        try:
            with cp.api_client() as api:
                install_crd(api)
                results = run(cp, api, shared, args, Path(tmp, "operator.log"))
        finally:
            cp.stop()
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
