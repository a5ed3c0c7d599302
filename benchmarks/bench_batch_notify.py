"""A batch's summary delay: from its last item's end to a local HTTP receiver, as JSON.

    python benchmarks/bench_batch_notify.py [--runs 5] [--items 10] [--k8s-runs 3] [--no-k8s]

Each item writes ``time.time()`` to a file as its last act; the batch's end is the latest
of them, and the delay is the receiver's arrival time minus that (one clock). It covers the
last item's runner teardown and record, the batch driver noticing it (the local
supervisor's poll; on Kubernetes the operator's watch and its batch status), the summary's
counts and the POST.

Baseline, measured in the same runs: a client blocked in ``batch.wait()`` (polling) seeing
the same end — what a user had without notify=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import kinetic  # noqa: E402
from tests.notify_receiver import Receiver  # noqa: E402


def stamp_end(folder: str, index: int) -> int:
    """An item: note when it ends (its last act)."""
    Path(folder, f"{index}.end").write_text(repr(time.time()))
    return index


def measure(runs: int, items: int, tmp: Path, label: str, **options) -> dict:
    receiver = Receiver()
    delays, waits = [], []
    try:
        for run in range(runs):
            folder = tmp / f"{label}-{run}"
            folder.mkdir()
            f = kinetic.run(notify=[receiver.url()], **options)(stamp_end)
            batch = f.run_async_map([(str(folder), i) for i in range(items)], max_concurrent=items)
            batch.wait(timeout=600)
            seen = time.time()
            deadline = time.monotonic() + 120
            while len(receiver.posts) <= run and time.monotonic() < deadline:
                time.sleep(0.01)
            ended = max(float(p.read_text()) for p in folder.glob("*.end"))
            delays.append(receiver.arrivals[run] - ended)
            waits.append(seen - ended)
            assert receiver.posts[run][2]["counts"] == {"SUCCEEDED": items}
    finally:
        receiver.close()
    return {
        "runs": runs,
        "items": items,
        "summary_delay_p50_s": round(statistics.median(delays), 3),
        "summary_delay_max_s": round(max(delays), 3),
        "baseline_wait_sees_end_p50_s": round(statistics.median(waits), 3),
        "baseline_wait_sees_end_max_s": round(max(waits), 3),
        "messages": len(receiver.posts),
    }


def bench_k8s(runs: int, items: int, tmp: Path) -> dict:
    from tests.k8s.controlplane import ControlPlane
    from tests.k8s.operator_proc import OperatorProcess, install_crd
    from tests.k8s.simnode import SimNode

    shared = tmp / "shared"
    shared.mkdir()
    cp = ControlPlane().start()
    try:
        with cp.api_client() as api:
            install_crd(api)
        env = {"KINETIC_FILE_STORE_HOST_PATH": str(shared)}
        os.environ["KINETIC_KUBECONFIG"] = str(cp.kubeconfig)
        os.environ["KINETIC_FILE_STORE_HOST_PATH"] = str(shared)
        operator = OperatorProcess(cp.kubeconfig, tmp / "operator.log", env).start()
        node = SimNode(cp.kubeconfig, name="bench-batch-notify").start()
        try:
            return measure(runs, items, shared, "k8s", backend="kubernetes",
                           namespace="default", store=(shared / "store").as_uri())  # fmt: skip
        finally:
            node.stop()
            operator.stop()
    finally:
        cp.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--k8s-runs", type=int, default=3)
    parser.add_argument("--no-k8s", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["KINETIC_HOME"] = str(tmp / "home")
        os.environ["KINETIC_CONFIG"] = str(tmp / "none.toml")
        results = {"local": measure(args.runs, args.items, tmp, "local", backend="local",
                                    store=(tmp / "store").as_uri())}  # fmt: skip
        results["local"]["target_s"] = 2
        if not args.no_k8s:
            results["kubernetes"] = bench_k8s(args.k8s_runs, args.items, tmp)
            results["kubernetes"]["target_s"] = 5
    results["cpus"] = os.cpu_count()
    results["load"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
