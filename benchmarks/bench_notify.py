"""Notification delay: from a job's end to a local HTTP receiver, as JSON.

    python benchmarks/bench_notify.py [--runs 10] [--k8s-runs 5] [--no-k8s]

The job's end is the moment its function returns (it writes ``time.time()`` to a file as
its last act); the delay is the receiver's arrival time minus that, both on this machine's
clock. It covers the runner's teardown and terminal record, and — on Kubernetes — the pod's
end, the operator noticing it and reading the Secret and the pod log, before the POST.

Baseline, measured in the same runs: the same end to a client that is waiting on the job
(``handle.wait()``, which polls) seeing it end — what a user had without notify=.

A workflow's summary (``workflow``): a 3-job workflow (a → b, a → c) with ``notify:``; each
job writes ``time.time()`` as its last act, the workflow's end is the latest of them, and
the delay runs to the one summary's arrival (the last member's runner, or the operator,
sends it). Baseline: ``WorkflowHandle.wait()`` (polling every job) seeing that end.

Kubernetes needs the test control plane's binaries (scripts/build-k8s-control-plane.sh);
the operator runs as a process with the admin kubeconfig, and the simulated node runs pods.
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


def stamp_end(path: str) -> str:
    """The job: note when it ends (its last act)."""
    Path(path).write_text(repr(time.time()))
    return "done"


def measure(runs: int, tmp: Path, label: str, **options) -> dict:
    receiver = Receiver()
    delays, waits = [], []
    try:
        for i in range(runs):
            stamp = tmp / f"{label}-{i}.end"
            job = kinetic.run(notify=[receiver.url()], **options)(stamp_end).run_async(str(stamp))
            job.wait(timeout=300)
            seen = time.time()
            deadline = time.monotonic() + 120
            while len(receiver.posts) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            ended = float(stamp.read_text())
            arrived = receiver.arrivals[i]
            delays.append(arrived - ended)
            waits.append(seen - ended)
    finally:
        receiver.close()
    return {
        "runs": runs,
        "notification_delay_p50_s": round(statistics.median(delays), 3),
        "notification_delay_max_s": round(max(delays), 3),
        "baseline_wait_sees_end_p50_s": round(statistics.median(waits), 3),
        "baseline_wait_sees_end_max_s": round(max(waits), 3),
    }


WORKFLOW = """
name: bench
notify: [{url!r}]
jobs:
  - {{name: a, command: {py!r}, args: ["-c", {stamp_a!r}]}}
  - {{name: b, command: {py!r}, args: ["-c", {stamp_b!r}], depends_on: [a]}}
  - {{name: c, command: {py!r}, args: ["-c", {stamp_c!r}], depends_on: [a]}}
"""


def measure_workflow(runs: int, tmp: Path, label: str, **options) -> dict:
    import kinetic.workflow

    receiver = Receiver()
    delays, waits = [], []
    try:
        for i in range(runs):
            stamps = {n: tmp / f"{label}-wf{i}-{n}.end" for n in "abc"}
            code = {f"stamp_{n}": f"import pathlib, time; pathlib.Path({str(p)!r})"
                    ".write_text(repr(time.time()))" for n, p in stamps.items()}  # fmt: skip
            text = WORKFLOW.format(url=receiver.url(), py=sys.executable, **code)
            handle = kinetic.workflow.run(text, **options)
            handle.wait(timeout=300, poll=0.5)
            seen = time.time()
            deadline = time.monotonic() + 120
            while len(receiver.posts) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            ended = max(float(p.read_text()) for p in stamps.values())
            delays.append(receiver.arrivals[i] - ended)
            waits.append(seen - ended)
        time.sleep(2)  # a second message for any of them would arrive meanwhile
        received = len(receiver.posts)
    finally:
        receiver.close()
    return {
        "runs": runs,
        "summaries_received": received,  # one per workflow
        "summary_delay_p50_s": round(statistics.median(delays), 3),
        "summary_delay_max_s": round(max(delays), 3),
        "baseline_workflow_wait_sees_end_p50_s": round(statistics.median(waits), 3),
        "baseline_workflow_wait_sees_end_max_s": round(max(waits), 3),
    }


def bench_k8s(runs: int, tmp: Path, workflow_runs: int = 0) -> dict:
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
        node = SimNode(cp.kubeconfig, name="bench-notify").start()
        try:
            where = {"backend": "kubernetes", "store": (shared / "store").as_uri()}
            result = measure(runs, tmp, "k8s", namespace="default", **where)
            if workflow_runs:
                os.environ["KINETIC_NAMESPACE"] = "default"
                result["workflow"] = measure_workflow(workflow_runs, tmp, "k8s", **where)
            return result
        finally:
            node.stop()
            operator.stop()
    finally:
        cp.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--k8s-runs", type=int, default=5)
    parser.add_argument("--workflow-runs", type=int, default=5)
    parser.add_argument("--no-k8s", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["KINETIC_HOME"] = str(tmp / "home")
        os.environ["KINETIC_CONFIG"] = str(tmp / "none.toml")
        results = {"local": measure(args.runs, tmp, "local", backend="local",
                                    store=(tmp / "store").as_uri())}  # fmt: skip
        results["local"]["target_s"] = 2
        if args.workflow_runs:
            results["local"]["workflow"] = measure_workflow(
                args.workflow_runs, tmp, "local", backend="local", store=(tmp / "store").as_uri()
            )
        if not args.no_k8s:
            results["kubernetes"] = bench_k8s(args.k8s_runs, tmp, args.workflow_runs)
            results["kubernetes"]["target_s"] = 5
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
