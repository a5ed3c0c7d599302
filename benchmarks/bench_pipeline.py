"""Pipeline figures of the local backend, printed as JSON.

    python benchmarks/bench_pipeline.py [--chain 50] [--fan-in 200] [--k8s]

* a chain of N no-op jobs, each taking the one before it as its argument: the time per
  edge from a job's SUCCEEDED (its record's ``finished``) to its dependent's RUNNING (its
  ``started``), p50/p90/max; next to it, the baseline measured in the same run: an
  independent no-op job's time from submission (``created``) to RUNNING;
* a fan-in: N no-op jobs and one job taking all N values as a list, the time from the
  first submission to the last job's SUCCEEDED; baseline: the same N jobs alone, until
  every one has SUCCEEDED.

Everything runs against a temporary file:// store; nothing of the user's is touched.
With ``--k8s`` the same runs on the test control plane (tests/k8s: its own API server,
the operator as `kinetic operator run`, a simulated node running each pod's runner as a
real process; needs scripts/build-k8s-control-plane.sh's binaries).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def noop(*values):
    return len(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {
        "p50_s": round(statistics.median(values), 3),
        "p90_s": round(percentile(values, 0.9), 3),
        "max_s": round(max(values), 3),
        "samples": len(values),
    }


def wait_all(handles, timeout: float = 1800.0) -> list:
    states = []
    deadline = time.monotonic() + timeout
    for handle in handles:
        states.append(handle.wait(max(1.0, deadline - time.monotonic()), progress=False))
    return states


class Watcher:
    """When each job was first seen RUNNING and SUCCEEDED, polling every job's state in one
    listing every ``poll`` seconds: Kubernetes stamps its own times to the second, too
    coarse for these figures."""

    def __init__(self, poll: float = 0.1):
        import threading

        self.poll, self.seen = poll, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        import kinetic

        while not self.stop.is_set():
            now = time.time()
            for handle in kinetic.list_jobs():
                status = handle.listed_state.status.value
                for phase in ("RUNNING", "SUCCEEDED"):
                    if status == phase or (phase == "RUNNING" and status == "SUCCEEDED"):
                        self.seen.setdefault((handle.job_id, phase), now)
            time.sleep(self.poll)


def on_k8s() -> bool:
    return os.environ["KINETIC_BACKEND"] == "kubernetes"


def bench_chain(n: int) -> dict:
    import kinetic

    fn = kinetic.run()(noop)
    watcher = Watcher() if on_k8s() else None
    jobs = [fn.run_async()]
    for _ in range(n - 1):
        jobs.append(fn.run_async(jobs[-1]))
    states = wait_all(jobs)
    assert all(s.status.value == "SUCCEEDED" for s in states), [s.status for s in states]
    if watcher is not None:
        seen = watcher.seen
        edges = [seen[(b.job_id, "RUNNING")] - seen[(a.job_id, "SUCCEEDED")]
                 for a, b in itertools.pairwise(jobs)]  # fmt: skip
    else:
        edges = [(b.started - a.finished).total_seconds() for a, b in itertools.pairwise(states)]
    baseline = []
    for _ in range(min(n, 20)):
        submitted = time.time()
        job = fn.run_async()
        state = wait_all([job])[0]
        if watcher is not None:
            time.sleep(3 * watcher.poll)  # its last look may still be under way
            baseline.append(watcher.seen[(job.job_id, "RUNNING")] - submitted)
        else:
            baseline.append((state.started - state.created).total_seconds())
    if watcher is not None:
        watcher.stop.set()
    return {"jobs": n, "edge": summary(edges), "baseline_submit_to_running": summary(baseline)}


def bench_fan_in(n: int) -> dict:
    import kinetic

    fn = kinetic.run()(noop)
    t0 = time.perf_counter()
    alone = [fn.run_async() for _ in range(n)]
    wait_all(alone)
    baseline = time.perf_counter() - t0
    watcher = Watcher() if on_k8s() else None
    t0 = time.perf_counter()
    upstream = [fn.run_async() for _ in range(n)]
    final = fn.run_async(*upstream)
    state = wait_all([final])[0]
    total = time.perf_counter() - t0
    assert state.status.value == "SUCCEEDED" and final.result(cleanup=False) == n
    if watcher is not None:
        time.sleep(3 * watcher.poll)
        watcher.stop.set()
        last = max(watcher.seen[(u.job_id, "SUCCEEDED")] for u in upstream)
        edge = watcher.seen[(final.job_id, "RUNNING")] - last
    else:
        last_up = max(s.finished for s in wait_all(upstream))
        edge = (state.started - last_up).total_seconds()
    return {
        "jobs": n,
        "fan_in_total_s": round(total, 2),
        "last_upstream_to_fan_in_running_s": round(edge, 3),
        "baseline_same_jobs_alone_s": round(baseline, 2),
    }


def run_all(args: argparse.Namespace) -> dict:
    return {
        "backend": os.environ["KINETIC_BACKEND"],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "chain": bench_chain(args.chain),
        "fan_in": bench_fan_in(args.fan_in),
    }


def on_control_plane(tmp: Path, args: argparse.Namespace) -> dict:
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "tests"), str(root)]
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
        operator = OperatorProcess(cp.kubeconfig, tmp / "operator.log", env).start()
        node = SimNode(cp.kubeconfig, name="bench-node", capacity={"pods": "40"}).start()
        os.environ.update(KINETIC_BACKEND="kubernetes", KINETIC_KUBECONFIG=str(cp.kubeconfig),
                          KINETIC_NAMESPACE="default", KINETIC_STORE=(shared / "s").as_uri(),
                          KINETIC_FILE_STORE_HOST_PATH=str(shared))  # fmt: skip
        try:
            return run_all(args)
        finally:
            node.stop()
            operator.stop()
    finally:
        cp.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--fan-in", type=int, default=200)
    parser.add_argument("--k8s", action="store_true", help="on the test control plane")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KINETIC_STORE"] = Path(tmp, "store").as_uri()
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        os.environ["KINETIC_BACKEND"] = "local"
        os.environ["KINETIC_CONFIG"] = str(Path(tmp, "none.toml"))
        sys.path.insert(0, str(Path(__file__).parent))
        result = on_control_plane(Path(tmp), args) if args.k8s else run_all(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
