"""run_async() cost against how much the caller has imported, printed as JSON.

    python benchmarks/bench_submit.py [--samples 30] [--modules 3000] [--no-k8s]

For each backend, two fresh interpreters submit the same no-op job ``--samples`` times:
one with only Kinetic imported, one with numpy, pandas, scipy (if installed), kubernetes
and generated modules (a package of the caller's own, outside site-packages, as a project
would be) until ``sys.modules`` holds ``--modules`` entries. Reported: run_async() return
time (p50, p90). The kubernetes backend runs against the test control plane (with the
KineticJob CRD; no operator, so the jobs are only created), with a file:// store.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def noop():
    return None


def import_heavy(modules: int, where: Path) -> int:
    import importlib

    for name in ("numpy", "pandas", "scipy", "scipy.stats", "scipy.optimize", "kubernetes"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from kubernetes import client  # noqa: F401 - the API modules, as the backend loads them

    package = where / "benchgen"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    missing = max(0, modules - len(sys.modules))
    for i in range(missing):
        (package / f"m{i}.py").write_text(f"VALUE = {i}\n")
    sys.path.insert(0, str(where))
    for i in range(missing):
        importlib.import_module(f"benchgen.m{i}")
    return len(sys.modules)


def case(heavy: bool, samples: int, modules: int, where: Path) -> dict:
    import kinetic

    count = import_heavy(modules, where) if heavy else len(sys.modules)
    fn = kinetic.run()(noop)
    fn.run_async()  # warm: cloudpickle, the store's directories, the API client
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        job = fn.run_async()
        times.append(time.perf_counter() - t0)
        if job.backend == "local":
            job.wait(timeout=120)  # one runner at a time: the next submit is not slowed
    ordered = sorted(times)
    return {
        "modules": count,
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p90_ms": round(ordered[round(0.9 * (len(ordered) - 1))] * 1000, 2),
        "samples": samples,
    }


def run_cases(env: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict:
    out = {}
    for label, heavy in (("kinetic_only", False), ("heavy_imports", True)):
        proc = subprocess.run(
            [sys.executable, __file__, "--case", "heavy" if heavy else "bare",
             "--samples", str(args.samples), "--modules", str(args.modules), "--dir", str(tmp)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--modules", type=int, default=3000)
    parser.add_argument("--no-k8s", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        result = case(args.case == "heavy", args.samples, args.modules, Path(args.dir))
        print(json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-submit-") as tmp:
        base = {**os.environ, "KINETIC_HOME": str(Path(tmp, "home")),
                "KINETIC_CONFIG": str(Path(tmp, "none.toml"))}  # fmt: skip
        local = {**base, "KINETIC_BACKEND": "local",
                 "KINETIC_STORE": Path(tmp, "store").as_uri()}  # fmt: skip
        results["local"] = run_cases(local, args, Path(tmp, "gen-local"))
        if not args.no_k8s:
            sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
            from tests.k8s.controlplane import ControlPlane
            from tests.k8s.operator_proc import install_crd

            shared = Path(tmp, "shared")
            shared.mkdir()
            cp = ControlPlane().start()
            try:
                with cp.api_client() as api:
                    install_crd(api)
                k8s = {**base, "KINETIC_BACKEND": "kubernetes",
                       "KINETIC_KUBECONFIG": str(cp.kubeconfig), "KINETIC_NAMESPACE": "default",
                       "KINETIC_STORE": (shared / "store").as_uri(),
                       "KINETIC_FILE_STORE_HOST_PATH": str(shared)}  # fmt: skip
                results["kubernetes"] = run_cases(k8s, args, Path(tmp, "gen-k8s"))
            finally:
                cp.stop()
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
