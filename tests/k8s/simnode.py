"""A simulated Kubernetes node for tests: a kubelet stand-in that runs pods as local processes.

It talks to a real API server (``controlplane.ControlPlane``) with the ``kubernetes`` client.

What it stands in for (as the kubelet does it):
  - node registration: a Node with configurable labels, taints, capacity and allocatable
    (e.g. ``nvidia.com/gpu: "1"``, ``cloud.google.com/gke-accelerator: nvidia-l4``), Ready,
    its address (127.0.0.1) and kubelet port in ``status.daemonEndpoints``;
  - liveness: its Lease in ``kube-node-lease`` is renewed every 10 s, so the real node
    lifecycle controller keeps it Ready;
  - pods bound to it (``spec.nodeName``): the FIRST container's ``command`` + ``args`` run
    as a local process (``$(VAR)`` expanded) in its own process group, with the pod's env
    (``value``, ``valueFrom`` secretKeyRef/configMapKeyRef/fieldRef, ``envFrom``) on top of a
    small base env (PATH with this interpreter's directory first, PYTHONPATH with this
    process's own import path, HOME, LANG: the "image" is this Python environment); cwd is the
    container's ``workingDir`` when that exists on this machine, else a per-pod dir;
  - a missing Secret/ConfigMap: ``waiting`` with reason ``CreateContainerConfigError``,
    retried until it appears;
  - pod status: ``Running`` with a running container state, startTime, podIP 127.0.0.1 and
    Ready conditions; then ``Succeeded``/``Failed`` with ``terminated`` (exitCode, reason
    Completed/Error, startedAt/finishedAt, ``message`` from the termination-message file,
    honouring ``FallbackToLogsOnError``); restartPolicy OnFailure/Always restart in place
    with ``CrashLoopBackOff`` waiting and a short (test-sized) backoff;
  - the termination-message file and volumes: as root, each pod runs in its own mount
    namespace (``unshare --mount``), with a private file bind-mounted at the container's
    ``terminationMessagePath`` (default ``/dev/termination-log``) and ``hostPath``,
    ``emptyDir``, ``secret`` and ``configMap`` volumes bind-mounted at their ``mountPath``;
    a ``persistentVolumeClaim`` is its bound PersistentVolume's ``hostPath`` (or ``local``)
    directory (unbound: ``CreateContainerConfigError`` until it binds, which the real PV
    controller does), and an ``emptyDir`` with ``medium: Memory`` is a tmpfs of its
    ``sizeLimit`` (writing past it fails with ENOSPC, where a 1.20 kubelet would evict).
    A mount point that does not exist is made inside the pod's namespace only (its parent
    is shadowed by a tmpfs holding the original entries, see ``podns``), so this machine
    never gets a ``/dev/termination-log``; only a missing top-level directory (``/data``)
    is created on this machine.
    FALLBACK without root or ``unshare``: no mounts at all; the termination-message file is
    a temp file whose path is in env ``KINETIC_TERMINATION_LOG`` (code under test may write
    there when that variable is set);
  - deletion: on ``deletionTimestamp`` the process group gets SIGTERM, then SIGKILL after the
    grace period; the final status is written and the pod object deleted with grace 0;
  - logs: ``/containerLogs/{ns}/{pod}/{container}`` (``tailLines``, ``limitBytes``,
    ``follow``) over HTTPS with a self-signed cert, so ``kubectl logs`` and
    ``read_namespaced_pod_log`` go through the API server (which skips verifying the
    kubelet's cert when it has no ``--kubelet-certificate-authority``);
  - exec and port-forward: ``/exec/{ns}/{pod}/{container}`` and ``/portForward/{ns}/{pod}``
    on the same endpoint, over websockets (``simstream``), so ``pods/exec`` and
    ``pods/portforward`` go through the API server's proxy for real.

What it does NOT do: images (the command runs on this machine, with this machine's files
and Python), init containers and containers after the first, resource requests/limits
beyond scheduling, OOM kills (``OOMKilled``), evictions and node pressure, probes, the
pod-level ``activeDeadlineSeconds`` (the Job-level one is the Job controller's and works),
service networking, service-account token volumes, ``attach``, SPDY streams (websockets
only), timestamps on log lines, log rotation. Status derivation for those cases is tested on
real object dumps instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from . import simstream
from .simpod import NodeContext, PodWorker, delete_pod, now

log = logging.getLogger("simnode")

LEASE_SECONDS = 40
RENEW_EVERY = 10.0
NODE_CONDITION_TAINTS = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}


def mount_namespaces_available() -> bool:
    """Whether pods can get private mount namespaces here (root and a working unshare)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


def _import_path() -> str:
    """This process's own import path entries (not the interpreter's): the simulated
    "image" holds the same code as the test process, as a real image holds the user's."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    entries = [
        p
        for p in sys.path
        if p and os.path.isdir(p) and not any(os.path.realpath(p).startswith(x) for x in prefixes)
    ]
    return os.pathsep.join(dict.fromkeys(entries))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # The API server drops log connections when it stops: not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


class SimNode:
    """A node named ``name`` that runs the pods scheduled to it; ``start()`` / ``stop()``."""

    def __init__(
        self,
        kubeconfig: str | Path,
        name: str = "sim-node",
        labels: dict[str, str] | None = None,
        capacity: dict[str, str] | None = None,
        allocatable: dict[str, str] | None = None,
        taints: list[dict[str, str]] | None = None,
        env: dict[str, str] | None = None,
        serve_logs: bool = True,
        mount_ns: bool | None = None,
    ) -> None:
        self.name = name
        self.labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **(labels or {}),
        }
        self.capacity = {"cpu": "8", "memory": "32Gi", "pods": "110",
                         "ephemeral-storage": "100Gi", **(capacity or {})}  # fmt: skip
        self.allocatable = {**self.capacity, **(allocatable or {})}
        self.taints = taints or []
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self._watch_api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self._api)
        self.dir = Path(tempfile.mkdtemp(prefix=f"kinetic-simnode-{name}-"))
        python_dir = os.path.dirname(sys.executable)
        base = {
            "PATH": f"{python_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": _import_path(),
            **(env or {}),
        }
        self.ctx = NodeContext(
            core=self.core, node_name=name, root=self.dir, base_env=base,
            mount_ns=mount_namespaces_available() if mount_ns is None else mount_ns,
        )  # fmt: skip
        self.serve_logs = serve_logs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._watch_resp: Any = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> SimNode:
        """Register the node, start the kubelet loops, wait until pods can be scheduled."""
        try:
            if self.serve_logs:
                self._start_log_server()
            self._register()
            for target in (self._lease_loop, self._watch_loop):
                t = threading.Thread(target=target, name=f"simnode-{self.name}", daemon=True)
                t.start()
                self._threads.append(t)
            self._wait_schedulable(timeout)
        except BaseException:
            self.stop(delete_node=False)
            raise
        return self

    def stop(self, delete_node: bool = True) -> None:
        """Kill every pod process, stop the loops, and (by default) delete the Node."""
        self._stop.set()
        if resp := self._watch_resp:
            # Unblocks the watch thread's read (urllib3 >= 2.3; else it ends at its timeout).
            getattr(resp, "shutdown", lambda: None)()
        for w in list(self.ctx.workers.values()):
            w.kill_now()
        for w in list(self.ctx.workers.values()):
            w.finished.wait(10)
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(10)
        if delete_node:
            try:
                self.core.delete_node(self.name)
            except ApiException as e:
                if e.status != 404:
                    raise
        self._api.close()
        self._watch_api.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SimNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def worker(self, namespace: str, pod: str) -> PodWorker | None:
        """The newest worker of a pod (its process is ``.proc``), for tests."""
        found = [w for w in self.ctx.workers.values() if (w.ns, w.name) == (namespace, pod)]
        return found[-1] if found else None

    # -- node registration and lease -------------------------------------------------------

    def _register(self) -> None:
        body = {
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {"taints": self.taints},
        }
        try:
            self.core.create_node(body)
        except ApiException as e:
            if e.status != 409:
                raise
            self.core.patch_node(self.name, body)
        t = now()
        cond = [
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "sufficient memory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "sufficient PID"),
        ]
        status = {
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "conditions": [
                {"type": ty, "status": st, "reason": r, "message": m,
                 "lastHeartbeatTime": t, "lastTransitionTime": t}
                for ty, st, r, m in cond
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {"kubeletVersion": "v1.20.2-simnode", "kubeProxyVersion": "v1.20.2",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "simnode://1", "osImage": "simnode",
                         "kernelVersion": os.uname().release, "machineID": self.name,
                         "systemUUID": self.name, "bootID": self.name},
        }  # fmt: skip
        self.core.patch_node_status(self.name, {"status": status})

    def _renew_lease(self) -> None:
        coord = client.CoordinationV1Api(self._api)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": stamp}  # fmt: skip
        try:
            coord.patch_namespaced_lease(self.name, "kube-node-lease", {"spec": spec})
        except ApiException as e:
            if e.status != 404:
                raise
            node = self.core.read_node(self.name)
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name,
                     "uid": node.metadata.uid}  # fmt: skip
            meta = {"name": self.name, "ownerReferences": [owner]}
            coord.create_namespaced_lease("kube-node-lease", {"metadata": meta, "spec": spec})

    def _lease_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._renew_lease()
            except Exception as e:  # the API server may be briefly away: try again
                log.warning("simnode %s: lease renewal failed: %s", self.name, e)
            self._stop.wait(RENEW_EVERY)

    def _wait_schedulable(self, timeout: float) -> None:
        # The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready to a
        # new Node; the node lifecycle controller lifts it once it sees Ready.
        deadline = time.monotonic() + timeout
        while True:
            taints = self.core.read_node(self.name).spec.taints or []
            if not any(t.key in NODE_CONDITION_TAINTS for t in taints):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {self.name} still tainted: {taints}")
            time.sleep(0.2)

    # -- pods --------------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        selector = f"spec.nodeName={self.name}"
        watch_core = client.CoreV1Api(self._watch_api)
        rv = None
        while not self._stop.is_set():
            try:
                if rv is None:  # (re)list: handle every pod, then watch from there
                    pods = self.core.list_pod_for_all_namespaces(field_selector=selector)
                    rv = pods.metadata.resource_version
                    for p in pods.items:
                        self._sync(self._api.sanitize_for_serialization(p))
                # A raw stream (not kubernetes.watch) so that stop() can cut it short.
                self._watch_resp = watch_core.list_pod_for_all_namespaces(
                    field_selector=selector, resource_version=rv, watch=True,
                    timeout_seconds=60, _preload_content=False,
                )  # fmt: skip
                try:
                    for line in iter_resp_lines(self._watch_resp):
                        ev = json.loads(line)
                        if ev["type"] == "ERROR":  # 410 Gone: the watch fell too far behind
                            rv = None
                            break
                        obj = ev["object"]
                        rv = obj["metadata"]["resourceVersion"]
                        if ev["type"] == "DELETED":
                            if wk := self.ctx.workers.get(obj["metadata"]["uid"]):
                                wk.kill_now()
                        else:
                            self._sync(obj)
                finally:
                    self._watch_resp.release_conn()
            except Exception as e:
                if isinstance(e, ApiException) and e.status == 410:
                    rv = None
                elif not self._stop.is_set():
                    log.warning("simnode %s: pod watch failed: %s", self.name, e)
                    self._stop.wait(1)

    def _sync(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        worker = self.ctx.workers.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            if worker is None or not worker.request_delete(float(grace)):
                delete_pod(self.core, meta["namespace"], meta["name"], meta["uid"])
            return
        phase = (pod.get("status") or {}).get("phase")
        if worker is None and phase not in ("Succeeded", "Failed") and not self._stop.is_set():
            worker = self.ctx.workers[meta["uid"]] = PodWorker(self.ctx, pod)
            worker.start()

    # -- logs (the kubelet's /containerLogs endpoint) -----------------------------------

    def _start_log_server(self) -> None:
        cert, key = self.dir / "kubelet.crt", self.dir / "kubelet.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={self.name}",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith(("/exec/", "/portForward/")):
                    node._serve_stream(self)
                else:
                    node._serve_log(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        t = threading.Thread(target=self._server.serve_forever, daemon=True)
        t.start()
        self._threads.append(t)

    def _serve_stream(self, req: BaseHTTPRequestHandler) -> None:
        """``/exec/{ns}/{pod}/{container}`` and ``/portForward/{ns}/{pod}`` (simstream)."""
        url = urlparse(req.path)
        parts = url.path.strip("/").split("/")
        w = self.worker(parts[1], parts[2]) if len(parts) in (3, 4) else None
        if w is None or w.proc is None or w.proc.poll() is not None:
            req.send_error(404, "no running container")
            return
        if parts[0] == "exec":
            simstream.serve_exec(req, w, url.query)
        else:
            simstream.serve_port_forward(req, w, url.query)

    def _serve_log(self, req: BaseHTTPRequestHandler) -> None:
        url = urlparse(req.path)
        parts = url.path.strip("/").split("/")
        w = None
        if len(parts) == 4 and parts[0] == "containerLogs":
            w = self.worker(parts[1], parts[2])
        if w is None or w.container["name"] != parts[3] or not w.log_path.exists():
            req.send_error(404, "container not found")
            return
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        data = w.log_path.read_bytes()
        if "tailLines" in q:
            n = int(q["tailLines"])
            data = b"".join(data.splitlines(keepends=True)[-n:]) if n > 0 else b""
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        req.end_headers()
        sent = self._write(req, data, limit, 0)
        if q.get("follow") == "true":
            pos = w.log_path.stat().st_size
            # Stream new output until the process ends (the connection then closes).
            while limit is None or sent < limit:
                done = w.finished.is_set() or (w.proc is not None and w.proc.poll() is not None)
                with open(w.log_path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                pos += len(chunk)
                sent = self._write(req, chunk, limit, sent)
                if done and not chunk:
                    break
                time.sleep(0.2)

    @staticmethod
    def _write(req: BaseHTTPRequestHandler, data: bytes, limit: int | None, sent: int) -> int:
        if limit is not None:
            data = data[: max(limit - sent, 0)]
        if data:
            req.wfile.write(data)
            req.wfile.flush()
        return sent + len(data)
