"""Figures on the real node (tests/realnode): the image built from operator/Dockerfile and
present on the node, the operator installed by its chart in the cluster, as JSON.

    sudo python benchmarks/bench_realnode.py [--jobs 50] [--noops 20] [--finished 1000]

* KineticJob created → RUNNING: ``--jobs`` jobs (each sleeps 2 s) submitted one a second
  through the public API; for each, the time from ``run_async()`` returning (the
  KineticJob exists) to the first watch event showing it RUNNING (p50/p95/p99, max);
* a no-op's submit → ``result()``, ``--noops`` times one after another (p50/p95, max);
* the in-cluster operator's resident memory with ``--finished`` finished KineticJobs
  present: created with a SUCCEEDED status while the operator's Deployment is scaled to
  0, then scaled back to 1, so that the new operator lists and indexes them all; the
  highest RSS of its process over 30 s after it is Ready.

Needs what the realnode tier needs (root, Debian; it builds and starts everything, and
stops and restores everything when done).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import yaml  # noqa: E402
from kubernetes import client, watch  # noqa: E402
from realnode.conftest import (  # noqa: E402
    OPERATOR,
    RELEASE_NAMESPACE,
    chart_manifests,
    wait_operator_ready,
)
from realnode.node import DOCKER, RealNode, find_node_binaries  # noqa: E402

import kinetic  # noqa: E402
from kinetic.k8s.kineticjob import build_kineticjob  # noqa: E402
from kinetic.k8s.names import GROUP, PLURAL, VERSION  # noqa: E402

NAMESPACE = "bench"


def sleeper(seconds):
    time.sleep(seconds)
    return seconds


def noop():
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 2),
        "p95_s": pct(values, 0.95),
        "p99_s": pct(values, 0.99),
        "max_s": round(max(values), 2),
    }


def bench_created_to_running(api, n: int, interval: float) -> dict:
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watcher() -> None:
        custom = client.CustomObjectsApi(api)
        while not stop.is_set():
            w = watch.Watch()
            for event in w.stream(custom.list_namespaced_custom_object, GROUP, VERSION,
                                  NAMESPACE, PLURAL, timeout_seconds=5):  # fmt: skip
                obj = event["object"]
                phase = (obj.get("status") or {}).get("phase")
                name = obj["metadata"]["name"]
                if phase in ("RUNNING", "SUCCEEDED", "FAILED") and name not in seen:
                    seen[name] = time.monotonic()
                if stop.is_set():
                    w.stop()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    time.sleep(1)
    fn = kinetic.run(name="latency")(sleeper)
    created: dict[str, float] = {}
    jobs = []
    for _ in range(n):
        job = fn.run_async(2)
        created[job.job_id] = time.monotonic()
        jobs.append(job)
        time.sleep(interval)
    for job in jobs:
        job.wait(300)
    time.sleep(1)
    stop.set()
    thread.join(10)
    latencies = [seen[j] - created[j] for j in created if j in seen]
    return {**summary(latencies), "submit_interval_s": interval, "target_p99_s": 5.0}


def bench_noop_round_trip(n: int) -> dict:
    fn = kinetic.run(name="noop")(noop)
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        fn.run_async().result(timeout=300)
        times.append(time.monotonic() - t0)
    return {**summary(times), "target_s": 5.0}


def operator_rss_mb() -> float:
    out = subprocess.run(
        [DOCKER, "ps", "-q", "--filter", f"label=io.kubernetes.pod.namespace={RELEASE_NAMESPACE}",
         "--filter", "label=io.kubernetes.container.name=operator"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    pid = subprocess.run([DOCKER, "inspect", "-f", "{{.State.Pid}}", out[0]],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bench_finished_memory(api, store: Path, count: int) -> dict:
    custom = client.CustomObjectsApi(api)
    status = {"status": {"phase": "SUCCEEDED", "attempts": 1}}

    def one(i: int) -> None:
        name = f"done-{i:05d}"
        body = build_kineticjob(name, function="m.f", store=store.as_uri(),
                                payload_sha256="0" * 64, spec={})  # fmt: skip
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, NAMESPACE, PLURAL, name,
                                                     status)  # fmt: skip

    # With no operator running (scaled to 0, as the chart's Deployment allows), or it
    # would start Jobs for them before their status says they are finished.
    apps = client.AppsV1Api(api)
    before = operator_rss_mb()
    old = wait_operator_ready(api)
    apps.patch_namespaced_deployment_scale(OPERATOR, RELEASE_NAMESPACE, {"spec": {"replicas": 0}})
    core = client.CoreV1Api(api)
    while any(p.metadata.name == old.metadata.name
              for p in core.list_namespaced_pod(RELEASE_NAMESPACE).items):  # fmt: skip
        time.sleep(1)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    apps.patch_namespaced_deployment_scale(OPERATOR, RELEASE_NAMESPACE, {"spec": {"replicas": 1}})
    wait_operator_ready(api, exclude=old.metadata.name)
    time.sleep(20)  # its initial listing and indexing
    samples = [operator_rss_mb()]
    for _ in range(5):
        time.sleep(2)
        samples.append(operator_rss_mb())
    total = len(custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"])
    return {
        "finished_kineticjobs": total,
        "operator_rss_mb": round(max(samples), 1),
        "operator_rss_mb_before_restart": round(before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--noops", type=int, default=20)
    parser.add_argument("--finished", type=int, default=1000)
    args = parser.parse_args()
    t0 = time.monotonic()
    node = RealNode(*find_node_binaries())
    store = Path(tempfile.mkdtemp(prefix="kinetic-store-", dir="/tmp"))
    store.chmod(0o1777)  # the documented setup: the jobs run as uid 10001
    subprocess.run(["setfacl", "-m", "u:10001:rwx", "-d", "-m", "u:10001:rwx", "-d", "-m",
                    f"u:{os.getuid()}:rwx", str(store)], check=True)  # fmt: skip
    results: dict = {}
    try:
        node.start()
        assert node.cp and node.dir
        manifests = node.dir / "kinetic.yaml"
        manifests.write_text(yaml.safe_dump_all(chart_manifests(store)))
        node.cp.kubectl("create", "namespace", RELEASE_NAMESPACE)
        node.cp.kubectl("apply", "-f", str(manifests))
        node.cp.kubectl("create", "namespace", NAMESPACE)
        with node.cp.api_client() as api:
            wait_operator_ready(api)
            results["setup_s"] = round(time.monotonic() - t0, 1)
            os.environ.update({
                "KINETIC_HOME": str(node.dir / "home"),
                "KINETIC_BACKEND": "kubernetes",
                "KINETIC_KUBECONFIG": str(node.cp.kubeconfig),
                "KINETIC_NAMESPACE": NAMESPACE,
                "KINETIC_OPERATOR_NAMESPACE": RELEASE_NAMESPACE,
                "KINETIC_STORE": (store / "s").as_uri(),
                "KINETIC_FILE_STORE_HOST_PATH": str(store),
            })  # fmt: skip
            latency = bench_created_to_running(api, args.jobs, args.interval)
            results["created_to_running"] = latency
            print(json.dumps(results), file=sys.stderr, flush=True)
            results["noop_submit_to_result"] = bench_noop_round_trip(args.noops)
            print(json.dumps(results), file=sys.stderr, flush=True)
            memory = bench_finished_memory(api, store, args.finished)
            results["in_cluster_operator_memory"] = memory
    finally:
        node.stop()
        subprocess.run(["rm", "-rf", str(store)], check=False)
    results["cpus"] = os.cpu_count()
    results["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
