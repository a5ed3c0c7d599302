"""Operator figures against the test control plane with the simulated node, as JSON.

    python benchmarks/bench_operator.py [--jobs 500] [--idle 10000]

* throughput: N KineticJobs created at once (as clients do, each with its payload in a
  file:// store the simulated node shares) — time until every Job exists, and until every
  KineticJob is SUCCEEDED (pods run for real, as processes);
* API requests the operator makes per job lifecycle, read from the API server's own
  ``apiserver_request_total`` counters (Jobs created, KineticJob status patches, Events,
  and any LIST/GET that would betray polling), divided by N;
* the operator's resident memory with ``--idle`` finished KineticJobs present.

Needs the control plane binaries (scripts/build-k8s-control-plane.sh); nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from kubernetes import client  # noqa: E402

from kinetic.k8s.kineticjob import build_kineticjob  # noqa: E402
from kinetic.k8s.names import GROUP, PLURAL, VERSION  # noqa: E402
from tests.k8s.controlplane import ControlPlane, free_ports  # noqa: E402
from tests.k8s.operator_proc import OperatorProcess, install_crd  # noqa: E402
from tests.k8s.simnode import SimNode  # noqa: E402

NAMESPACE = "default"
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def operator_env(shared: Path) -> dict[str, str]:
    """As the chart configures it: a file store's host path, and the progress endpoint
    (each job's pod then gets its pod-bound token, as in a default install)."""
    (port,) = free_ports(1)
    return {
        "KINETIC_FILE_STORE_HOST_PATH": str(shared),
        "KINETIC_PROGRESS_LISTEN": f"127.0.0.1:{port}",
        "KINETIC_PROGRESS_URL": f"http://127.0.0.1:{port}/progress",
    }


def request_counts(api: client.ApiClient) -> dict[tuple[str, str, str], float]:
    """(verb, resource, subresource) -> requests served so far, from /metrics."""
    auth = api.configuration.auth_settings().get("BearerToken") or {}
    headers = {auth["key"]: auth["value"]} if auth else {}
    reply = api.rest_client.pool_manager.request(
        "GET", api.configuration.host + "/metrics", headers=headers
    )
    counts: dict[tuple[str, str, str], float] = {}
    for line in reply.data.decode().splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] = counts.get(key, 0) + float(m["value"])
    return counts


def diff(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


def submit_jobs(api, store_root: Path, n: int, prefix: str, fn=len, args=(["x"],)) -> list[str]:
    """Create N KineticJobs the way the client does: handle and payload, then the CR.
    Each runs ``fn(*args)`` (``len(["x"])`` unless said otherwise)."""
    import kinetic
    from kinetic.client.pickling import frame_payload
    from kinetic.client.submit import new_job_id
    from kinetic.model.status import format_time, utcnow
    from kinetic.store import layout, open_store
    from kinetic.wire.framing import store_framed
    from kinetic.wire.payload import Payload

    store = open_store(store_root)
    custom = client.CustomObjectsApi(api)
    spec = kinetic.JobSpec(backend="kubernetes", store=store.uri).to_dict()
    function = f"{fn.__module__}.{fn.__qualname__}"

    def one(_: int) -> str:
        job_id = new_job_id(prefix)
        framed = frame_payload(Payload(fn, tuple(args)))
        handle = kinetic.JobHandle(job_id, "kubernetes", store.uri, function,
                                   format_time(utcnow()), spec=spec,
                                   payload_sha256=framed.digest.sha256,
                                   extra={"namespace": NAMESPACE})  # fmt: skip
        store.write_bytes(layout.handle_key(job_id), handle.to_json().encode())
        store_framed(store, layout.payload_key(job_id), framed)
        body = build_kineticjob(job_id, function=function, store=store.uri,
                                payload_sha256=framed.digest.sha256, spec=spec)  # fmt: skip
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        return job_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def wait_until(predicate, timeout: float, poll: float = 0.5) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(poll)
    raise TimeoutError("benchmark condition not reached")


def phases(api) -> dict[str, int]:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL
    )["items"]
    counts: dict[str, int] = {}
    for kj in items:
        phase = (kj.get("status") or {}).get("phase", "none")
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_throughput(cp, api, shared: Path, n: int, log: Path) -> dict:
    """N KineticJobs wait while no operator runs; then it starts and works through them.

    Submitting from one client on two CPUs is slower than the operator, so the jobs are
    created first. Two figures: the operator alone turning KineticJobs into Jobs (no node
    yet, so no pod runs beside it on the two CPUs), then the whole lifecycle once a node
    runs the pods.
    """
    batch = client.BatchV1Api(api)
    t0 = time.monotonic()
    submit_jobs(api, shared / "store", n, "tput")
    submitted = time.monotonic() - t0
    before = request_counts(api)
    operator = OperatorProcess(cp.kubeconfig, log, operator_env(shared))
    operator.start()  # wait_until counts from here: the operator's start-up is included
    jobs_exist = wait_until(lambda: len(batch.list_namespaced_job(NAMESPACE).items) >= n, 600)
    node = SimNode(cp.kubeconfig, name="bench-node", capacity={"pods": "40"}).start()
    try:
        all_done = wait_until(lambda: phases(api).get("SUCCEEDED", 0) >= n, 1800, poll=1)
    finally:
        node.stop()
    time.sleep(2)
    used = diff(request_counts(api), before)
    operator.stop()
    per_job = {f"{v} {r}{'/' + s if s else ''}": round(c / n, 2) for (v, r, s), c in used.items()
               if r in ("jobs", "kineticjobs", "events", "pods")}  # fmt: skip
    return {
        "jobs": n,
        "client_submit_seconds": round(submitted, 2),
        "all_jobs_exist_seconds": round(jobs_exist, 2),
        "jobs_reconciled_per_second": round(n / jobs_exist, 1),
        "target_jobs_per_second": 50,
        "node_added_to_all_succeeded_seconds": round(all_done, 2),
        "succeeded_per_second": round(n / all_done, 1),
        "requests_per_job_by_verb_resource": per_job,
        "note": "counts include the simulated node's pod status updates, the Job "
        "controller's and scheduler's requests, and this script's own LISTs while it "
        "waits; the operator's own writes are Job POST, kineticjobs/status PATCH and "
        "events POST",
    }


def bench_lifecycle_requests(cp, api, shared: Path, n: int, log: Path) -> dict:
    """The ordinary case: operator and node up, jobs arrive; requests per job lifecycle."""
    operator = OperatorProcess(cp.kubeconfig, log, operator_env(shared))
    operator.start()
    node = SimNode(cp.kubeconfig, name="bench-node-2", capacity={"pods": "40"}).start()
    try:
        time.sleep(3)
        before = request_counts(api)
        submit_jobs(api, shared / "store", n, "life")
        wait_until(lambda: phases(api).get("SUCCEEDED", 0) >= n, 900, poll=1)
        time.sleep(2)
        used = diff(request_counts(api), before)
    finally:
        node.stop()
        operator.stop()
    wanted = {("POST", "jobs", ""), ("PATCH", "kineticjobs", "status"), ("POST", "events", ""),
              ("GET", "kineticjobs", ""), ("GET", "pods", ""), ("LIST", "pods", "")}  # fmt: skip
    return {
        "jobs": n,
        **{
            f"{v} {r}{'/' + s if s else ''}": round(used.get((v, r, s), 0) / n, 2)
            for v, r, s in sorted(wanted)
        },
        "targets": "POST jobs <= 1, PATCH kineticjobs/status <= 5, no GET/LIST polling",
    }


def bench_idle_memory(cp, api, shared: Path, count: int, log: Path) -> dict:
    """Finished KineticJobs accumulate; the operator indexes them all."""
    custom = client.CustomObjectsApi(api)
    status = {"status": {"phase": "SUCCEEDED", "attempts": 1}}

    def one(i: int) -> None:
        body = build_kineticjob(f"idle-{i:05d}", function="m.f", store=(shared / "s").as_uri(),
                                payload_sha256="0" * 64, spec={})  # fmt: skip
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, NAMESPACE, PLURAL, f"idle-{i:05d}", status
        )

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    created = time.monotonic() - t0
    operator = OperatorProcess(cp.kubeconfig, log).start()
    time.sleep(20)  # initial listing and indexing
    samples = [rss_mb(operator.proc.pid)]
    for _ in range(5):
        time.sleep(2)
        samples.append(rss_mb(operator.proc.pid))
    operator.stop()
    return {
        "kineticjobs": count,
        "create_seconds": round(created, 1),
        "operator_rss_mb": round(max(samples), 1),
        "target_mb": 200,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--idle", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp, "shared")
        shared.mkdir()
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        cp = ControlPlane().start()
        try:
            with cp.api_client() as api:
                install_crd(api)
                results = {"throughput": bench_throughput(cp, api, shared, args.jobs,
                                                          Path(tmp, "op1.log"))}  # fmt: skip
                client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL
                )
                wait_until(lambda: not phases(api), 600)
                results["lifecycle_requests"] = bench_lifecycle_requests(
                    cp, api, shared, 50, Path(tmp, "op-life.log")
                )
                client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL
                )
                wait_until(lambda: not phases(api), 600)
                results["idle_memory"] = bench_idle_memory(cp, api, shared, args.idle,
                                                           Path(tmp, "op2.log"))  # fmt: skip
        finally:
            cp.stop()
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
