"""A REAL Kubernetes node beside the test control plane, for the ``realnode`` tier: dockerd
(Debian's docker.io), a kubelet 1.20.2 driving it through its built-in dockershim, and
kube-proxy in iptables mode, built by ``scripts/build-k8s-node.sh`` (findings:
shared/real-node.md). Pods are real containers of real images on ``docker0``; there is no
CNI plugin (the kubelet's "noop" network: pods get docker0 addresses).

The control plane is the tests' own (``k8s.controlplane``), with two differences: the API
server listens on docker0's address, which it advertises as the ``kubernetes`` Service's
endpoint, so pods reach it through kube-proxy at 10.96.0.1:443; and ServiceAccount tokens
with the API server's CA are on (so the chart's operator runs in the cluster). Services
work as in a real cluster: kube-proxy's iptables rules for ClusterIPs, and a minimal
cluster DNS (``dns.ClusterDNS``) for their names.

Cleanup is complete: kube-proxy's iptables chains, the pods' containers, the kubelet's
mounts and cgroups, dockerd when we started it, and the kernel tunables the kubelet,
kube-proxy and dockerd change (saved before, restored after). Docker's own iptables
chains and the docker0 bridge stay, as after any dockerd stop.

No pytest here: the class works from a plain script or a benchmark too.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k8s.controlplane import (
    ControlPlane,
    ControlPlaneUnavailable,
    _die_with_parent,
    _tail,
    find_binaries,
    free_ports,
)

from .dns import ClusterDNS

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = REPO_ROOT / "scripts" / "build-k8s-node.sh"
CHART_CRDS = REPO_ROOT / "charts" / "kinetic" / "crds"
NODE_NAME = "realnode"
IMAGE = "kinetic:dev"  # the kind guide's tag (docs/kubernetes.md)
PAUSE_IMAGE = "k8s.gcr.io/pause:3.2"
KUBELET_ROOT = Path("/var/lib/kinetic-realnode/kubelet")
DOCKER = "/usr/bin/docker"
LOCK_FILE = "/run/kinetic-realnode.lock"
# Changed by the kubelet (it "protects" kernel defaults), kube-proxy (route_localnet) and
# dockerd (ip_forward): restored on stop.
SYSCTLS = (
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet", "net.bridge.bridge-nf-call-iptables",
)  # fmt: skip


class RealNodeUnavailable(ControlPlaneUnavailable):
    """This machine cannot run the real node (not Debian, not root, build failed...)."""


def enabled() -> tuple[bool, str]:
    """The tier runs in CI (CI=true) or when asked (KINETIC_REALNODE=1): it installs
    packages, starts dockerd and a kubelet, and changes iptables and kernel tunables."""
    if os.environ.get("CI") == "true" or os.environ.get("KINETIC_REALNODE") == "1":
        return True, ""
    return False, (
        "the real-node tier runs with CI=true or KINETIC_REALNODE=1 (root, Debian: it "
        "installs docker.io, starts dockerd and a kubelet, changes iptables and sysctls)"
    )


def can_run() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"a real node needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return False, "a real node needs root (dockerd, the kubelet, iptables)"
    if not shutil.which("apt-get"):
        return False, "a real node is built with apt-get (Debian)"
    return True, ""


def _run_script(*args: str) -> str:
    """Run the node build script, echoing its progress; its last stdout line."""
    proc = subprocess.Popen(
        ["bash", str(NODE_SCRIPT), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    tail: collections.deque[str] = collections.deque(maxlen=30)
    assert proc.stderr and proc.stdout
    for line in proc.stderr:
        sys.stderr.write(line)
        tail.append(line)
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RealNodeUnavailable(
            f"{NODE_SCRIPT.name} {' '.join(args)} failed (exit {proc.returncode}):\n"
            + "".join(tail)
        )
    return out.strip().splitlines()[-1]


def find_node_binaries() -> tuple[Path, Path]:
    """(control-plane bin dir, node bin dir), building them when needed (minutes)."""
    ok, why = can_run()
    if not ok:
        raise RealNodeUnavailable(why)
    cp_bin = find_binaries()
    return cp_bin, Path(_run_script("build"))


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def _docker0_address() -> str | None:
    out = _sh("ip", "-4", "-o", "addr", "show", "docker0", check=False).stdout.split()
    return out[out.index("inet") + 1].split("/")[0] if "inet" in out else None


def _remove_kube_chains() -> None:
    """Every KUBE-* iptables chain, and the jumps to them (kube-proxy's and the kubelet's)."""
    for cmd in ("iptables", "ip6tables"):
        if not shutil.which(cmd):
            continue
        for table in ("filter", "nat", "mangle"):
            rules = _sh(cmd, "-t", table, "-S", check=False).stdout.splitlines()
            for rule in rules:
                words = shlex.split(rule)
                if words[:1] == ["-A"] and not words[1].startswith("KUBE-") and "KUBE-" in rule:
                    _sh(cmd, "-t", table, "-D", *words[1:], check=False)
            chains = [r.split()[1] for r in rules if r.startswith("-N KUBE-")]
            for flag in ("-F", "-X"):
                for chain in chains:
                    _sh(cmd, "-t", table, flag, chain, check=False)


def _run_all(*steps: Callable[[], None]) -> None:
    """Run every step, whatever happens in the ones before (even KeyboardInterrupt)."""
    if not steps:
        return
    try:
        steps[0]()
    except Exception as exc:
        print(f"realnode: {steps[0].__name__} failed: {exc}", file=sys.stderr)
    finally:
        _run_all(*steps[1:])


class RealNode:
    """dockerd + control plane + kubelet + kube-proxy. After ``start()``: ``cp`` (the
    ``ControlPlane``), ``address`` (docker0's, the node's InternalIP), ``dir`` (logs)."""

    def __init__(self, cp_bin: Path, node_bin: Path) -> None:
        self.cp_bin, self.node_bin = cp_bin, node_bin
        self.cp: ControlPlane | None = None
        self.address = ""
        self.dir: Path | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._sysctls: dict[str, str] = {}
        self._started_dockerd = False
        self._lock: Any = None
        self.dns: ClusterDNS | None = None
        self._dns_api: Any = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 300) -> RealNode:
        """``timeout`` for each of: dockerd, the control plane, the node Ready (the image
        build in between has none of its own: minutes when cold on a busy machine)."""
        # One real node per machine: the kubelet's port, dockerd, iptables are shared.
        self._lock = open(LOCK_FILE, "w")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise RealNodeUnavailable(
                f"another real node runs on this machine ({LOCK_FILE})"
            ) from None
        self.dir = Path(tempfile.mkdtemp(prefix="kinetic-realnode-"))
        self._sysctls = self._read_sysctls()
        try:
            self._start_dockerd(time.monotonic() + timeout)
            self.address = _docker0_address() or ""
            if not self.address:
                raise RealNodeUnavailable("docker0 has no IPv4 address")
            _run_script("images")
            self.cp = ControlPlane(
                bin_dir=self.cp_bin, manifests=[CHART_CRDS], address=self.address,
                service_accounts=True,
            ).start(timeout)  # fmt: skip
            # kubectl's discovery cache predates the CRDs it applied: `kubectl get kj`
            # would not know the short name.
            shutil.rmtree(self.cp.dir / "kubectl-cache", ignore_errors=True)  # type: ignore[operator]
            self._dns_api = self.cp.api_client()
            self.dns = ClusterDNS(self._dns_api, self.address).start()
            self._start_kubelet()
            self._start_kube_proxy()
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Everything started, stopped; everything changed, restored. Each step runs even
        when an earlier one failed or was interrupted: the kernel tunables always."""
        _run_all(
            self._stop_node, self._remove_containers, self._unmount_kubelet_root,
            self._remove_kubepods_cgroups, self._stop_control_plane, self._stop_dockerd,
            self._restore_sysctls, self._remove_dir, self._unlock,
        )  # fmt: skip

    def _unlock(self) -> None:
        if self._lock:
            self._lock.close()  # releases the flock
            self._lock = None

    def _stop_node(self) -> None:
        # kube-proxy first, then its chains; the kubelet (its chains too).
        for name in ("kube-proxy", "kubelet"):
            self._terminate(name)
        if (self.node_bin / "kube-proxy").exists():
            _sh(str(self.node_bin / "kube-proxy"), "--cleanup", check=False)
        _remove_kube_chains()  # what --cleanup leaves: the canaries, the kubelet's chains

    @staticmethod
    def _remove_containers() -> None:
        """The pods' containers: with the kubelet gone, nobody else removes them."""
        if shutil.which(DOCKER) and _sh(DOCKER, "info", check=False).returncode == 0:
            ids = _sh(DOCKER, "ps", "-aq", "--filter", "label=io.kubernetes.pod.name",
                      check=False).stdout.split()  # fmt: skip
            if ids:
                _sh(DOCKER, "rm", "-f", "-v", *ids, check=False)

    def _stop_control_plane(self) -> None:
        if self.dns:
            self.dns.stop()
            self.dns = None
        if self._dns_api:
            self._dns_api.close()
            self._dns_api = None
        if self.cp:
            self.cp.stop()
            self.cp = None

    def _stop_dockerd(self) -> None:
        if self._started_dockerd:
            self._terminate("dockerd", wait=30)
            self._started_dockerd = False

    def _remove_dir(self) -> None:
        if self.dir and os.environ.get("KINETIC_K8S_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self, name: str, lines: int = 40) -> str:
        assert self.dir
        return _tail(self.dir / f"{name}.log", lines)

    # -- pieces ------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self.dir
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        try:
            self.procs[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        finally:
            log.close()

    def _terminate(self, name: str, wait: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RealNodeUnavailable(
                    f"{name} exited with code {proc.returncode}:\n{self.logs(name)}"
                )

    def _start_dockerd(self, deadline: float) -> None:
        if _sh(DOCKER, "info", check=False).returncode == 0:
            return  # a dockerd of this machine's own: used, and left running
        mtu = "1500"
        # The pods' MTU must not exceed the uplink's (1400 on some VMs) or TLS downloads
        # in `docker build` stall.
        route = _sh("ip", "-o", "route", "show", "default", check=False).stdout.split()
        if "dev" in route:
            with contextlib.suppress(OSError):
                mtu = Path(f"/sys/class/net/{route[route.index('dev') + 1]}/mtu").read_text()
        self._spawn(
            "dockerd",
            ["/usr/sbin/dockerd", "--data-root=/var/lib/docker", "--storage-driver=overlay2",
             "--exec-opt=native.cgroupdriver=cgroupfs", f"--mtu={mtu.strip()}"],
        )  # fmt: skip
        self._started_dockerd = True
        while _sh(DOCKER, "info", check=False).returncode != 0:
            self._check_alive()
            if time.monotonic() > deadline:
                raise RealNodeUnavailable(f"dockerd did not start:\n{self.logs('dockerd')}")
            time.sleep(0.5)

    def _start_kubelet(self) -> None:
        assert self.cp and self.dir and self.cp.kubeconfig
        KUBELET_ROOT.mkdir(parents=True, exist_ok=True)
        # Ours uses cgroupfs; a dockerd of the machine's own (systemd's docker.service) may
        # use systemd, and the kubelet must agree with it. (Only cgroupfs on cgroup v1 is
        # tested.)
        info = _sh(DOCKER, "info", "-f", "{{.CgroupDriver}}", check=False).stdout.strip()
        driver = info if info in ("cgroupfs", "systemd") else "cgroupfs"
        # --oom-score-adj=0 and the patched constants: see build-k8s-node.sh.
        # Eviction and image GC thresholds out of the way: a busy CI disk must not evict
        # the tests' pods or delete the image built for them.
        self._spawn(
            "kubelet",
            [str(self.node_bin / "kubelet"), f"--kubeconfig={self.cp.kubeconfig}",
             "--container-runtime=docker", "--docker-endpoint=unix:///var/run/docker.sock",
             f"--pod-infra-container-image={PAUSE_IMAGE}", f"--cgroup-driver={driver}",
             f"--hostname-override={NODE_NAME}", f"--node-ip={self.address}",
             f"--address={self.address}", "--port=10250", "--read-only-port=0",
             "--healthz-bind-address=127.0.0.1", f"--healthz-port={free_ports(1)[0]}",
             f"--root-dir={KUBELET_ROOT}", f"--cert-dir={self.dir / 'kubelet-pki'}",
             "--fail-swap-on=false", "--oom-score-adj=0",
             f"--cluster-dns={self.address}", "--cluster-domain=cluster.local",
             "--eviction-hard=memory.available<50Mi,nodefs.available<1%,imagefs.available<1%",
             "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
             "--node-status-update-frequency=4s", "-v=1"],
        )  # fmt: skip

    def _start_kube_proxy(self) -> None:
        assert self.cp and self.cp.kubeconfig
        healthz, metrics = free_ports(2)
        # Connection-tracking limits are left as they are (0: do not set).
        self._spawn(
            "kube-proxy",
            [str(self.node_bin / "kube-proxy"), f"--kubeconfig={self.cp.kubeconfig}",
             "--proxy-mode=iptables", f"--hostname-override={NODE_NAME}",
             f"--healthz-bind-address=127.0.0.1:{healthz}",
             f"--metrics-bind-address=127.0.0.1:{metrics}",
             "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
             "--conntrack-tcp-timeout-close-wait=0", "-v=1"],
        )  # fmt: skip

    def _wait_ready(self, deadline: float) -> None:
        assert self.cp
        while True:
            self._check_alive()
            out = self.cp.kubectl(
                "get", "node", NODE_NAME, "-o",
                'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
            ).stdout  # fmt: skip
            if out == "True":
                return
            if time.monotonic() > deadline:
                raise RealNodeUnavailable(f"node not Ready:\n{self.logs('kubelet')}")
            time.sleep(0.5)

    # -- cleanup helpers -----------------------------------------------------------------
    def _unmount_kubelet_root(self) -> None:
        targets = _sh("findmnt", "-rn", "-o", "TARGET", check=False).stdout.splitlines()
        root = str(KUBELET_ROOT)
        for t in sorted((t for t in targets if t == root or t.startswith(root + "/")),
                        reverse=True):  # fmt: skip
            _sh("umount", "-l", t, check=False)
        shutil.rmtree(KUBELET_ROOT / "pods", ignore_errors=True)

    @staticmethod
    def _remove_kubepods_cgroups() -> None:
        base = Path("/sys/fs/cgroup")
        roots = [base / "kubepods"] + [d / "kubepods" for d in base.glob("*") if d.is_dir()]
        for root in roots:
            if not root.is_dir():
                continue
            for d in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()

    @staticmethod
    def _read_sysctls() -> dict[str, str]:
        saved = {}
        for key in SYSCTLS:
            path = Path("/proc/sys") / key.replace(".", "/")
            with contextlib.suppress(OSError):
                saved[key] = path.read_text().strip()
        return saved

    def _restore_sysctls(self) -> None:
        for key, value in self._sysctls.items():
            path = Path("/proc/sys") / key.replace(".", "/")
            with contextlib.suppress(OSError):
                if path.read_text().strip() != value:
                    path.write_text(value)
        self._sysctls = {}
