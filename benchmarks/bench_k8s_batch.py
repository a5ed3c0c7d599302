"""Batches (f.run_async_map) on the test control plane with the simulated node, as JSON.

    python benchmarks/bench_k8s_batch.py [--items 1000] [--big 10000] [--bare 1000]

* **baseline**, in the same run: ``--bare`` plain batch/v1 Jobs created one after the
  other by a client loop (the floor for creating objects on this control plane), and the
  operator's resident memory with no batch present;
* **one batch of ``--items`` no-op items** submitted with ``run_async_map`` on the
  kubernetes backend (``max_concurrent`` = the item count, so every item may start at
  once): the time for ``run_async_map`` to return; with no node yet, the time until the
  operator has started every item (its KineticJob and its Job exist) — items started per
  second; then a node is added and the batch runs to SUCCEEDED. The API server's own
  ``apiserver_request_total`` counters give the objects created and the status writes per
  item (nothing in the operator is instrumented);
* the operator's resident memory (VmRSS of its process, highest of 6 samples over 10 s)
  with a ``--big``-item batch present: in flight (64 at a time, its items not created
  yet), and ended with every item's KineticJob kept (results not collected).

The operator runs as the chart runs it by default (``kinetic operator run``, no
``--verbose``). Needs the control plane binaries (scripts/build-k8s-control-plane.sh);
nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT)]

from bench_operator import diff, operator_env, request_counts, rss_mb, wait_until  # noqa: E402
from kubernetes import client  # noqa: E402

from kinetic.k8s.kineticbatch import build_kineticbatch, item_kineticjob  # noqa: E402
from kinetic.k8s.kineticjob import build_kineticjob  # noqa: E402
from kinetic.k8s.names import BATCH_PLURAL, GROUP, PLURAL, VERSION  # noqa: E402
from tests.k8s.controlplane import ControlPlane  # noqa: E402
from tests.k8s.operator_proc import OperatorProcess, install_crd  # noqa: E402
from tests.k8s.simnode import SimNode  # noqa: E402

NAMESPACE = "default"


def noop(x):
    return x


def bare_jobs(api, n: int) -> dict:
    """The floor: N bare Jobs, one create after the other, from one client."""
    batch = client.BatchV1Api(api)
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {"bench": "bare"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "none", "command": ["true"]}]}}},
    }  # fmt: skip
    t0 = time.monotonic()
    for i in range(n):
        named = {**body, "metadata": {**body["metadata"], "name": f"bare-{i}"}}
        batch.create_namespaced_job(NAMESPACE, named)
    took = time.monotonic() - t0
    batch.delete_collection_namespaced_job(NAMESPACE, label_selector="bench=bare",
                                           propagation_policy="Background")  # fmt: skip
    wait_until(lambda: not batch.list_namespaced_job(NAMESPACE, label_selector="bench=bare").items,
               600)  # fmt: skip
    return {"jobs": n, "seconds": round(took, 2), "jobs_per_second": round(n / took, 1)}


def operator_rss(operator: OperatorProcess, settle: float = 20.0) -> float:
    """The highest VmRSS over 10 s, after ``settle`` seconds of listing and indexing."""
    time.sleep(settle)
    samples = [rss_mb(operator.proc.pid)]
    for _ in range(5):
        time.sleep(2)
        samples.append(rss_mb(operator.proc.pid))
    return round(max(samples), 1)


def kb_status(api, batch_id: str) -> dict:
    kb = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, BATCH_PLURAL, batch_id
    )
    return kb.get("status") or {}


def job_count(api, batch_id: str) -> int:
    # The generic path: plain JSON, not a thousand V1Job models built by this process on
    # the CPUs the run is measuring (about a second of CPU per poll).
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "batch", "v1", NAMESPACE, "jobs"
    )["items"]
    return sum(1 for j in items if j["metadata"]["name"].startswith(f"{batch_id}-"))


def requests_per_item(used: dict, n: int, writes_only: bool = False) -> dict:
    """The API server's requests (from its counters) per item, by verb and resource:
    the objects Kinetic deals with; reads too unless ``writes_only``."""
    verbs = ("POST", "PATCH", "PUT", "DELETE") + (() if writes_only else ("GET", "LIST"))
    return {f"{v} {r}{'/' + s if s else ''}": round(c / n, 3) for (v, r, s), c in used.items()
            if v in verbs and r in ("jobs", "kineticjobs", "kineticbatches", "pods", "events",
                                    "services", "secrets", "configmaps")}  # fmt: skip


def bench_batch(cp, api, n: int, log: Path, shared: Path, run: bool = True) -> dict:
    """N no-op items, every one allowed to start at once; the operator running, no node
    until every item is started (so no pod competes with it for the CPUs)."""
    import kinetic

    operator = OperatorProcess(cp.kubeconfig, log, operator_env(shared), verbose=False).start()
    try:
        time.sleep(10)  # started, watching
        before = request_counts(api)
        f = kinetic.run()(noop)
        t0 = time.monotonic()
        batch = f.run_async_map(range(n), max_concurrent=n)
        returned = time.monotonic() - t0
        t1 = time.monotonic()
        wait_until(lambda: int(kb_status(api, batch.batch_id).get("created") or 0) >= n, 1800)
        created = time.monotonic() - t1
        wait_until(lambda: job_count(api, batch.batch_id) >= n, 1800)
        started = time.monotonic() - t1
        if not run:  # --starts-only
            time.sleep(5)  # the writes that follow the last Job's create (its item's status)
            return {"items": n, "run_async_map_returns_seconds": round(returned, 2),
                    "until_every_item_kineticjob_seconds": round(created, 2),
                    "until_every_item_job_seconds": round(started, 2),
                    "items_started_per_second": round(n / started, 1),
                    "target_items_started_per_second": 50,
                    "requests_per_item_until_started": requests_per_item(
                        diff(request_counts(api), before), n)}  # fmt: skip
        node = SimNode(cp.kubeconfig, name="bench-node", capacity={"pods": "40"}).start()
        try:
            t2 = time.monotonic()
            wait_until(lambda: kb_status(api, batch.batch_id).get("phase") == "SUCCEEDED",
                       3600, poll=2)  # fmt: skip
            ran = time.monotonic() - t2
        finally:
            node.stop()
        time.sleep(3)
        used = diff(request_counts(api), before)
        final = kb_status(api, batch.batch_id)
        t3 = time.monotonic()
        values = batch.results(cleanup=False, timeout=600)
        collected = time.monotonic() - t3
        assert values == list(range(n)), "every value collected"
    finally:
        operator.stop()
    per_item = requests_per_item(used, n, writes_only=True)
    status_writes = sum(c for (v, r, s), c in used.items() if v == "PATCH" and s == "status"
                        and r in ("kineticjobs", "kineticbatches"))  # fmt: skip
    return {
        "items": n,
        "run_async_map_returns_seconds": round(returned, 2),
        "until_every_item_kineticjob_seconds": round(created, 2),
        "until_every_item_job_seconds": round(started, 2),
        "items_started_per_second": round(n / started, 1),
        "target_items_started_per_second": 50,
        "node_added_to_batch_succeeded_seconds": round(ran, 1),
        "results_collected_seconds": round(collected, 1),
        "batch_status": {k: final.get(k) for k in ("phase", "succeeded", "failed", "created")},
        "objects_created_per_item": {
            "KineticJob": round(used.get(("POST", "kineticjobs", ""), 0) / n, 3),
            "Job": round(used.get(("POST", "jobs", ""), 0) / n, 3),
            "Pod": round(used.get(("POST", "pods", ""), 0) / n, 3),
            "KineticBatch": round(used.get(("POST", "kineticbatches", ""), 0) / n, 4),
            "Service": round(used.get(("POST", "services", ""), 0) / n, 3),
            "Secret": round(used.get(("POST", "secrets", ""), 0) / n, 3),
        },
        "status_writes_per_item": round(status_writes / n, 2),
        "status_writes_per_item_kineticbatch": round(
            used.get(("PATCH", "kineticbatches", "status"), 0) / n, 2),
        "status_writes_per_item_kineticjob": round(
            used.get(("PATCH", "kineticjobs", "status"), 0) / n, 2),
        "writes_per_item_by_verb_resource": per_item,
    }  # fmt: skip


def big_batch(api, shared: Path, total: int, ended: bool) -> str:
    """A KineticBatch of ``total`` items made through the API (no store records: the
    operator never reads the store). In flight: 64 at a time, the operator creates them.
    Ended: every item's KineticJob exists with a SUCCEEDED status, as a batch whose
    results were not collected leaves them."""
    custom = client.CustomObjectsApi(api)
    batch_id = f"big-{'ended' if ended else 'flight'}"
    template = build_kineticjob(f"{batch_id}-0", function="m.f", store=(shared / "s").as_uri(),
                                payload_sha256="", spec={})["spec"]  # fmt: skip
    body = build_kineticbatch(batch_id, store=(shared / "s").as_uri(), total=total,
                              max_concurrent=total if ended else 64, fail_fast=False,
                              cancel_running_on_fail=False, template=template)  # fmt: skip
    kb = custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, BATCH_PLURAL, body)
    if not ended:
        return batch_id
    counts = {"created": total, "succeeded": total, "failed": 0, "cancelled": 0, "running": 0,
              "pending": 0, "notStarted": 0, "phase": "SUCCEEDED"}  # fmt: skip
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, NAMESPACE, BATCH_PLURAL,
                                                 batch_id, {"status": counts})  # fmt: skip
    done = {"status": {"phase": "SUCCEEDED", "attempts": 1}}

    def one(i: int) -> None:
        item = dict(item_kineticjob(kb, i))
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, item)
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, NAMESPACE, PLURAL,
                                                     item["metadata"]["name"], done)  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(total)))
    return batch_id


def bench_memory(cp, api, shared: Path, total: int, tmp: Path) -> dict:
    results = {}
    operator = OperatorProcess(
        cp.kubeconfig, tmp / "op-none.log", operator_env(shared), verbose=False
    ).start()
    results["operator_rss_mb_no_batch"] = operator_rss(operator)
    # In flight: the operator has created its first 64 items (no node: they wait).
    batch_id = big_batch(api, shared, total, ended=False)
    wait_until(lambda: int(kb_status(api, batch_id).get("created") or 0) >= 64, 600)
    results[f"operator_rss_mb_{total}_item_batch_in_flight"] = operator_rss(operator, 10)
    operator.stop()
    # Ended, every item's KineticJob kept; a fresh operator lists and indexes them all.
    t0 = time.monotonic()
    big_batch(api, shared, total, ended=True)
    results["ended_batch_create_seconds"] = round(time.monotonic() - t0, 1)
    operator = OperatorProcess(
        cp.kubeconfig, tmp / "op-big.log", operator_env(shared), verbose=False
    ).start()
    results[f"operator_rss_mb_{total}_item_batch_ended_items_kept"] = operator_rss(operator, 30)
    operator.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--bare", type=int, default=1000)
    parser.add_argument("--starts-only", action="store_true",
                        help="measure how fast the operator starts the items, then stop: no "
                        "node, no run to the end, no memory figures (a few minutes)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shared = tmp / "shared"
        shared.mkdir()
        cp = ControlPlane().start()
        os.environ.update({
            "KINETIC_HOME": str(tmp / "home"),
            "KINETIC_CONFIG": str(tmp / "no-config.toml"),
            "KINETIC_BACKEND": "kubernetes",
            "KINETIC_KUBECONFIG": str(cp.kubeconfig),
            "KINETIC_NAMESPACE": NAMESPACE,
            "KINETIC_STORE": (shared / "store").as_uri(),
            "KINETIC_FILE_STORE_HOST_PATH": str(shared),
        })  # fmt: skip
        try:
            with cp.api_client() as api:
                install_crd(api)
                results = {"baseline_bare_jobs_client_loop": bare_jobs(api, args.bare)}
                results["batch"] = bench_batch(cp, api, args.items, tmp / "op-batch.log", shared,
                                               run=not args.starts_only)  # fmt: skip
                if args.starts_only:
                    return print(json.dumps({**results, "cpus": os.cpu_count(),
                                             "load_average_1m_at_end":
                                             round(os.getloadavg()[0], 1)}, indent=2))  # fmt: skip
                client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, BATCH_PLURAL
                )
                client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL
                )
                custom = client.CustomObjectsApi(api)
                wait_until(lambda: not custom.list_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL)["items"], 900)  # fmt: skip
                # The baseline operator must find nothing of the batch: its Jobs and pods
                # go after the KineticJobs (the garbage collector).
                core, jobs = client.CoreV1Api(api), client.BatchV1Api(api)
                wait_until(lambda: not jobs.list_namespaced_job(NAMESPACE).items
                           and not core.list_namespaced_pod(NAMESPACE).items, 900)  # fmt: skip
                results["memory"] = bench_memory(cp, api, shared, args.big, tmp)
        finally:
            cp.stop()
    results["cpus"] = os.cpu_count()
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
