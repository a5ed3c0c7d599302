"""The operator as the chart runs it — `kinetic operator run` — in a subprocess for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from kubernetes import client, utils

CHART = Path(__file__).resolve().parents[2] / "charts" / "kinetic"
CRD_FILE = CHART / "crds" / "kineticjobs.yaml"


def install_crd(api: client.ApiClient, timeout: float = 30) -> None:
    """Apply the chart's CRDs (KineticJob, KineticBatch; idempotently) and wait until each
    is Established."""
    ext = client.ApiextensionsV1Api(api)
    for path in sorted(CRD_FILE.parent.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        deadline = time.monotonic() + timeout
        while True:
            crd = ext.read_custom_resource_definition(body["metadata"]["name"])
            conditions = crd.status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the CRD {body['metadata']['name']} did not become Established")
            time.sleep(0.2)


def apply_manifests(api: client.ApiClient, docs: list[dict]) -> None:
    for doc in docs:
        if doc:
            try:
                utils.create_from_dict(api, doc)
            except utils.FailToCreateError as exc:
                if not all(e.status == 409 for e in exc.api_exceptions):
                    raise


class OperatorProcess:
    """`python -m kinetic.cli operator run`, with its log kept for failure messages.
    ``wrapper``: a script that runs the module for Python (e.g. transport_faults.py);
    ``verbose``: ``--verbose``, which tests want in the log they print on a failure
    (benchmarks run the operator as the chart does by default, without it)."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),
        verbose: bool = True,
    ):
        self.kubeconfig, self.log_path, self.verbose = kubeconfig, log_path, verbose
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})}
        self.wrapper = list(wrapper)
        self.proc: subprocess.Popen | None = None

    def start(self) -> OperatorProcess:
        self.log = self.log_path.open("ab")
        argv = ["-m", "kinetic.cli", "operator", "run", "--all-namespaces"]
        argv += ["--verbose"] if self.verbose else []
        self.proc = subprocess.Popen(
            [sys.executable, *self.wrapper, *argv],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """Killed outright, as a node failure or OOM would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
