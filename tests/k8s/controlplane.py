"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler (1.20.2, built from Debian's source package by
``scripts/build-k8s-control-plane.sh``), started on free loopback ports in a temp dir.

There is no kubelet; ``simnode.SimNode`` stands in for one.

Environment: see ``binaries`` for where the binaries come from, and
    KINETIC_K8S_KEEP     "1": keep the temp dir (logs, etcd data) after stop()

No pytest here: the class works from a plain script or a benchmark too.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .binaries import ControlPlaneUnavailable, find_binaries

ADMIN_TOKEN = "kinetic-admin-token"
START_TRIES = 3  # see start()
__all__ = ["ControlPlane", "ControlPlaneError", "ControlPlaneUnavailable", "find_binaries"]


class ControlPlaneError(RuntimeError):
    """The binaries exist but the control plane failed to start."""


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback TCP ports (racy by nature: another process may take one
    before our component binds it, which then fails to start and says so)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:  # all held open at once, so the kernel hands out distinct ports
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _die_with_parent() -> None:
    # A test run killed hard must not leave etcd and the API server running forever.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler on loopback.

    After ``start()``: ``server`` (https URL), ``kubeconfig`` (admin, a file path),
    ``token``, ``bin_dir``, ``dir`` (temp dir with the logs ``<component>.log``).
    """

    def __init__(
        self,
        bin_dir: str | Path | None = None,
        build: bool | None = None,
        manifests: Sequence[str | Path] = (),
        address: str = "127.0.0.1",
        service_accounts: bool = False,
    ) -> None:
        """``manifests`` (files or dirs) are applied before the controller-manager starts,
        so that its garbage collector watches their CRDs from the start (see
        ``wait_for_garbage_collector``).

        For a real node (tests/realnode): ``address``, where the API server listens and
        which it advertises as the ``kubernetes`` Service's endpoint (one pods can reach);
        ``service_accounts``, the ServiceAccount admission plugin on and the API server's
        CA in the token Secrets (``--root-ca-file``), so pods get a token and a CA."""
        self.bin_dir: Path | None = Path(bin_dir) if bin_dir else None
        self._build = build
        self._manifests = [Path(m) for m in manifests]
        self.address = address
        self._service_accounts = service_accounts
        self.dir: Path | None = None
        self.server = ""
        self.kubeconfig: Path | None = None
        self.token = ADMIN_TOKEN
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ports: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> ControlPlane:
        if self.bin_dir is None:
            self.bin_dir = find_binaries(self._build)
        etcd = self.bin_dir / "etcd"
        etcd_bin = str(etcd) if os.access(etcd, os.X_OK) else shutil.which("etcd")
        if not etcd_bin:
            raise ControlPlaneUnavailable("etcd not found (apt-get install etcd-server)")
        if not shutil.which("openssl"):
            raise ControlPlaneUnavailable("openssl not found")
        # Free ports are picked before the components bind them, so on a busy machine
        # another process can take one in between; that start fails, and a second try
        # (new ports, new directory) is the cure.
        for attempt in range(1, START_TRIES + 1):
            self.dir = Path(tempfile.mkdtemp(prefix="kinetic-k8s-"))
            atexit.register(self.stop)
            try:
                self._start(etcd_bin, time.monotonic() + timeout)
                return self
            except ControlPlaneError:
                self.stop()
                if attempt == START_TRIES:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _start(self, etcd_bin: str, deadline: float) -> None:
        assert self.dir and self.bin_dir
        d, b = self.dir, self.bin_dir
        names = ("etcd", "peer", "apiserver", "kcm", "scheduler")
        p = self._ports = dict(zip(names, free_ports(len(names)), strict=True))
        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        self._spawn(
            "etcd",
            [etcd_bin, "--data-dir", str(d / "etcd"), "--listen-client-urls", etcd_url,
             "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", f"http://127.0.0.1:{p['peer']}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{p['peer']}",
             "--initial-cluster", f"default=http://127.0.0.1:{p['peer']}",
             # Test data: durability is not worth the fsync latency.
             "--unsafe-no-fsync"],
        )  # fmt: skip
        self._wait_http("etcd", f"{etcd_url}/health", deadline, auth=False)

        sa_key, sa_pub = d / "sa.key", d / "sa.pub"
        self._openssl("genrsa", "-out", str(sa_key), "2048")
        self._openssl("rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
        (d / "tokens.csv").write_text(f'{ADMIN_TOKEN},admin,1,"system:masters"\n')
        (d / "certs").mkdir()
        # Without service accounts, the ServiceAccount admission plugin would block pods
        # until token volumes exist; the simulated node mounts none.
        extra = [] if self._service_accounts else ["--disable-admission-plugins=ServiceAccount"]
        if self.address != "127.0.0.1":
            extra.append(f"--advertise-address={self.address}")
        self._spawn(
            "kube-apiserver",
            [str(b / "kube-apiserver"), f"--etcd-servers={etcd_url}",
             f"--secure-port={p['apiserver']}", f"--bind-address={self.address}",
             f"--cert-dir={d / 'certs'}", f"--token-auth-file={d / 'tokens.csv'}",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={sa_pub}",
             f"--service-account-signing-key-file={sa_key}",
             "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=RBAC",
             *extra,
             # Simulated nodes' hostnames don't resolve; their kubelet endpoint is loopback.
             "--kubelet-preferred-address-types=InternalIP",
             "--profiling=false"],
        )  # fmt: skip
        self.server = f"https://{self.address}:{p['apiserver']}"
        self.kubeconfig = self._write_kubeconfig(d / "admin.kubeconfig", ADMIN_TOKEN, "default")
        self._wait_http("kube-apiserver", f"{self.server}/healthz", deadline)
        self._wait_http("kube-apiserver", f"{self.server}/readyz", deadline)

        if self._manifests:
            self._apply_manifests()

        kc = str(self.kubeconfig)
        common = [f"--kubeconfig={kc}", "--leader-elect=false", "--bind-address=127.0.0.1",
                  # 1.20 still serves plain HTTP on fixed ports by default: turn that off so
                  # several control planes can run side by side.
                  "--port=0", "--profiling=false",
                  # The default 20 qps client limit, not the API server, would bound how fast
                  # benchmarks' hundreds of Jobs get pods and bindings.
                  "--kube-api-qps=200", "--kube-api-burst=400"]  # fmt: skip
        self._spawn(
            "kube-controller-manager",
            [str(b / "kube-controller-manager"), *common, f"--secure-port={p['kcm']}",
             "--controllers=*", f"--service-account-private-key-file={sa_key}",
             f"--cert-dir={d / 'certs'}",
             # The API server's self-signed bundle (its cert, then its CA), made at start.
             *([f"--root-ca-file={d / 'certs' / 'apiserver.crt'}"]
               if self._service_accounts else []),
             # -v=2 logs the garbage collector's discovery syncs (wait_for_garbage_collector).
             "-v=2"],
        )  # fmt: skip
        self._spawn(
            "kube-scheduler",
            [str(b / "kube-scheduler"), *common, f"--secure-port={p['scheduler']}",
             f"--cert-dir={d / 'certs'}"],
        )  # fmt: skip
        self._wait_http("kube-controller-manager", self._local("kcm", "/healthz"), deadline)
        self._wait_http("kube-scheduler", self._local("scheduler", "/healthz"), deadline)
        # The ServiceAccount and token controllers are running once "default" has a token:
        # everything RBAC tests rely on.
        self._wait_for(
            "kube-controller-manager",
            lambda: self._sa_token_secret("default", "default") is not None,
            deadline,
        )

    def stop(self) -> None:
        """Terminate every component (newest first) and remove the temp dir."""
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            del self.procs[name]
        if self.dir and os.environ.get("KINETIC_K8S_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests ---------------------------------------------------------------

    def api_client(self, kubeconfig: str | Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (or the given kubeconfig)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def kubectl(
        self, *args: str, kubeconfig: str | Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this control plane; returns CompletedProcess."""
        assert self.bin_dir and self.dir
        # A private discovery cache: ~/.kube/cache may hold an older control plane's view
        # of the same loopback port, without the CRDs installed since.
        cmd = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            f"--cache-dir={self.dir / 'kubectl-cache'}",
        ]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, check=check)

    def service_account_kubeconfig(self, namespace: str, name: str, timeout: float = 60) -> Path:
        """A kubeconfig acting as ServiceAccount ``namespace/name`` with exactly its RBAC.

        The ServiceAccount must exist (or be created soon); this waits for the token
        controller's ``kubernetes.io/service-account-token`` Secret.
        """
        assert self.dir
        deadline = time.monotonic() + timeout
        token: str | None = None
        while (token := self._sa_token_secret(namespace, name)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no token Secret for ServiceAccount {namespace}/{name}")
            time.sleep(0.2)
        return self._write_kubeconfig(
            self.dir / f"sa-{namespace}-{name}.kubeconfig", token, namespace, user=name
        )

    def wait_for_garbage_collector(self, resource: str, timeout: float = 90) -> None:
        """Wait until the garbage collector watches ``resource`` (a plural: "kineticjobs").

        It rediscovers resources only every 30 s: until then, deleting a custom resource
        cascades to its dependents only through the GC's slow retry path (up to a minute).
        Not needed for resources that existed when the control plane started (manifests).
        """
        # Printed as "added: [group/version, Resource=plural other/v1, Resource=…]".
        markers = (f"Resource={resource}]", f"Resource={resource} ")
        log = self._log("kube-controller-manager")

        def synced() -> bool:
            lines = log.read_text(errors="replace").splitlines()
            for i, line in enumerate(lines):
                if "syncing garbage collector" in line and any(m in line for m in markers):
                    return any("synced garbage collector" in x for x in lines[i + 1 :])
            return False

        self._wait_for("kube-controller-manager", synced, time.monotonic() + timeout)

    # -- internals -----------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        assert self.dir
        return self.dir / f"{name}.log"

    def _apply_manifests(self) -> None:
        assert self.bin_dir
        if not os.access(self.bin_dir / "kubectl", os.X_OK):
            raise ControlPlaneError("applying manifests needs kubectl beside the binaries")
        for m in self._manifests:
            proc = self.kubectl("apply", "-f", str(m), check=False)
            if proc.returncode:
                raise ControlPlaneError(f"kubectl apply -f {m} failed: {proc.stderr.strip()}")
        # Established before the controller-manager's discovery, or the GC misses them.
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all",
                     check=False)  # fmt: skip

    def _sa_token_secret(self, namespace: str, name: str) -> str | None:
        from kubernetes import client

        with self.api_client() as api:
            secrets = client.CoreV1Api(api).list_namespaced_secret(
                namespace, field_selector="type=kubernetes.io/service-account-token"
            )
        for s in secrets.items:
            annotations = s.metadata.annotations or {}
            owner = annotations.get("kubernetes.io/service-account.name")
            if owner == name and (token := (s.data or {}).get("token")):
                return base64.b64decode(token).decode()
        return None

    def _write_kubeconfig(
        self, path: Path, token: str, namespace: str, user: str = "admin"
    ) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kinetic-test",
                    "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": f"{user}@kinetic-test",
                    "context": {"cluster": "kinetic-test", "user": user, "namespace": namespace},
                }
            ],
            "current-context": f"{user}@kinetic-test",
        }
        path.write_text(yaml.safe_dump(cfg))
        path.chmod(0o600)
        return path

    def _local(self, port_name: str, path: str) -> str:
        return f"https://127.0.0.1:{self._ports[port_name]}{path}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self.dir
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        pdeath = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        try:
            self.procs[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir, preexec_fn=pdeath,
            )  # fmt: skip
        finally:
            log.close()

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
        if proc.returncode:
            raise ControlPlaneError(f"openssl {args[0]} failed: {proc.stderr.strip()}")

    def _fail(self, name: str, what: str) -> ControlPlaneError:
        assert self.dir
        kept = os.environ.get("KINETIC_K8S_KEEP") == "1"
        where = f" ({self._log(name)})" if kept else " (KINETIC_K8S_KEEP=1 keeps the logs)"
        return ControlPlaneError(
            f"{name} {what}; last lines of its log{where}:\n" + _tail(self._log(name))
        )

    def _wait_for(self, name: str, ready: Any, deadline: float) -> None:
        last_error: Exception | None = None
        while True:
            for n, proc in self.procs.items():
                if proc.poll() is not None:
                    raise self._fail(n, f"exited with code {proc.returncode}")
            try:
                if ready():
                    return
            except Exception as e:  # not up yet: connection refused, 503, 403…
                last_error = e
            if time.monotonic() > deadline:
                raise self._fail(name, f"not ready in time (last error: {last_error})")
            time.sleep(0.25)

    def _wait_http(self, name: str, url: str, deadline: float, auth: bool = True) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if auth else {}

        def ok() -> bool:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
                return resp.status == 200

        self._wait_for(name, ok, deadline)
