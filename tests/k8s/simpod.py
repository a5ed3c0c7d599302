"""One pod on the simulated node (see ``simnode``): resolve its env and volumes, run its
first container as a local process, and report status the way a kubelet does."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.utils.quantity import parse_quantity

log = logging.getLogger("simnode")

MESSAGE_LIMIT = 4096  # the kubelet's cap on a termination message
POD_IP = "127.0.0.1"


class ConfigError(Exception):
    """What the kubelet reports as CreateContainerConfigError (missing Secret, key…)."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class NodeContext:
    """What a pod worker needs from its node."""

    core: CoreV1Api
    node_name: str
    root: Path  # per-pod dirs go here
    base_env: dict[str, str]
    mount_ns: bool  # run pods in their own mount namespace (root + unshare)
    restart_backoff: float = 1.0
    workers: dict[str, PodWorker] = field(default_factory=dict)


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: known names replaced, ``$$`` escapes a ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(sub, text)


def _field(pod: dict[str, Any], path: str) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    if m := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    if path not in simple:
        raise ConfigError(f"simnode: unsupported fieldRef {path}")
    return simple[path] or ""


def _data(core: CoreV1Api, kind: str, ns: str, name: str, optional: bool) -> dict[str, str]:
    try:
        if kind == "secret":
            obj = core.read_namespaced_secret(name, ns)
            return {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}
        return dict(core.read_namespaced_config_map(name, ns).data or {})
    except ApiException as e:
        if e.status == 404:
            if optional:
                return {}
            raise ConfigError(f'{kind} "{name}" not found') from None
        raise


def resolve_env(core: CoreV1Api, pod: dict[str, Any], c: dict[str, Any]) -> dict[str, str]:
    """The container's environment from env/envFrom (value, Secret, ConfigMap, fieldRef)."""
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for src in c.get("envFrom") or []:
        kind, ref = ("secret", src["secretRef"]) if src.get("secretRef") else (
            "configmap", src.get("configMapRef") or {})  # fmt: skip
        data = _data(core, kind, ns, ref.get("name", ""), bool(ref.get("optional")))
        env.update({src.get("prefix", "") + k: v for k, v in data.items()})
    for e in c.get("env") or []:
        vf = e.get("valueFrom")
        if not vf:
            env[e["name"]] = expand(e.get("value") or "", env)
        elif ref := vf.get("fieldRef"):
            env[e["name"]] = _field(pod, ref["fieldPath"])
        elif (ref := vf.get("secretKeyRef")) or (ref := vf.get("configMapKeyRef")):
            kind = "secret" if "secretKeyRef" in vf else "configmap"
            optional = bool(ref.get("optional"))
            data = _data(core, kind, ns, ref["name"], optional)
            if ref["key"] in data:
                env[e["name"]] = data[ref["key"]]
            elif not optional:
                what = "Secret" if kind == "secret" else "ConfigMap"
                raise ConfigError(f"couldn't find key {ref['key']} in {what} {ns}/{ref['name']}")
        else:
            raise ConfigError(f"simnode: unsupported valueFrom in env {e['name']}")
    return env


class PodWorker(threading.Thread):
    """Runs one pod to completion (or deletion), then exits."""

    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"simpod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.ctx, self.pod = ctx, pod
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.container = pod["spec"]["containers"][0]
        self.dir = ctx.root / f"{self.ns}_{self.name}_{self.uid}"
        self.log_path = self.dir / f"{self.container['name']}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.finished = threading.Event()
        self._deleted = threading.Event()
        self._grace = 30.0
        self._lock = threading.Lock()
        self._done = False
        self._delete_requested = False
        self._evicted: str | None = None

    # -- called from the node's watch thread -----------------------------------------------

    def request_delete(self, grace: float) -> bool:
        """Stop the pod within ``grace`` seconds; False when it already finished."""
        with self._lock:
            if self._done:
                return False
            self._grace, self._delete_requested = grace, True
            self._deleted.set()
            return True

    def evict(self, message: str) -> None:
        """As the kubelet evicts a pod under node pressure (1.20): kill its container at
        once and leave the pod Failed with reason ``Evicted``; the pod object stays."""
        self._evicted, self._grace = message, 0
        self._deleted.set()

    def kill_now(self) -> None:
        """The pod object is gone (force-deleted) or the node stops: no grace."""
        self._grace = 0
        self._deleted.set()

    # -- the pod's life ----------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("simnode: pod %s/%s failed unexpectedly", self.ns, self.name)
        finally:
            with self._lock:
                self._done = True
                delete = self._delete_requested
            if delete:
                delete_pod(self.ctx.core, self.ns, self.name, self.uid)
            self.finished.set()

    def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        c = self.container
        while True:  # like the kubelet: retry while a referenced Secret/ConfigMap is missing
            if self._deleted.is_set():
                return
            try:
                env = {**self.ctx.base_env, "HOSTNAME": self.name}
                env.update(resolve_env(self.ctx.core, self.pod, c))
                mounts = self._mounts()
                break
            except ConfigError as e:
                self._status("Pending", {"waiting": {"reason": "CreateContainerConfigError",
                                                     "message": str(e)}})  # fmt: skip
                self._deleted.wait(2)
        argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
        policy = self.pod["spec"].get("restartPolicy", "Always")
        restarts, last_state = 0, None
        while True:
            started, code = now(), self._run_once(argv, env, mounts, restarts, last_state)
            terminated = self._terminated(code, started)
            retry = policy == "Always" or (policy == "OnFailure" and code != 0)
            if self._deleted.is_set() or not retry:
                break
            # A crash-looping container: the kubelet's backoff, shortened for tests.
            restarts, last_state = restarts + 1, {"terminated": terminated}
            waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
            self._status("Running", waiting, restarts, last_state, ready=False)
            if self._deleted.wait(min(self.ctx.restart_backoff * 2 ** (restarts - 1), 10)):
                break
        phase = "Succeeded" if code == 0 and not self._evicted else "Failed"
        evicted = {"reason": "Evicted", "message": self._evicted} if self._evicted else None
        self._status(phase, {"terminated": terminated}, restarts, last_state, False, evicted)

    def _run_once(self, argv, env, mounts, restarts, last_state) -> int:
        term_log = self.dir / "termination-log"
        term_log.write_bytes(b"")
        term_log.chmod(0o666)
        if not argv:
            self.log_path.write_text("simnode: the container has no command (images are not run)")
            return 128
        if self.ctx.mount_ns:
            path = self.container.get("terminationMessagePath") or "/dev/termination-log"
            mounts = [*mounts, (str(term_log), path, False, False)]
            stage = self.dir / f"shadow-{restarts}"
            argv = wrap_in_mount_ns(argv, mounts, stage)
        else:
            env = {**env, "KINETIC_TERMINATION_LOG": str(term_log)}
        wd = self.container.get("workingDir")
        cwd = wd if wd and os.path.isdir(wd) else self.dir
        self.exec_env, self.exec_cwd = env, cwd  # what `kubectl exec` gets (simstream)
        with open(self.log_path, "ab") as out:
            try:
                self.proc = subprocess.Popen(
                    argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            except OSError as e:
                out.write(f"simnode: cannot start {argv[0]}: {e}\n".encode())
                return 128
        self._status("Running", {"running": {"startedAt": now()}}, restarts, last_state)
        proc = self.proc
        while proc.poll() is None and not self._deleted.wait(0.1):
            pass
        if proc.poll() is None:  # deleted: SIGTERM, the grace period, then SIGKILL
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self._grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Whatever the command left behind in its process group goes too, as with a container.
        _signal_group(proc.pid, signal.SIGKILL)
        rc = proc.returncode
        return 128 - rc if rc < 0 else rc

    def _terminated(self, code: int, started: str) -> dict[str, Any]:
        message = (
            (self.dir / "termination-log").read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        )
        policy = self.container.get("terminationMessagePolicy", "File")
        if not message and code and policy == "FallbackToLogsOnError":
            tail = self.log_path.read_bytes().splitlines()[-80:]
            message = b"\n".join(tail)[-2048:].decode(errors="replace")
        t = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
             "startedAt": started, "finishedAt": now(),
             "containerID": f"simnode://{self.proc.pid if self.proc else 0}"}  # fmt: skip
        if message:
            t["message"] = message
        return t

    def _mounts(self) -> list[tuple[Any, str, bool, bool]]:
        """(source, mountPath, is_dir, read_only) for the volumes the node can provide. The
        source of a memory-backed emptyDir is {"tmpfs": size in bytes} (see podns)."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        mounts: list[tuple[Any, str, bool, bool]] = []
        for vm in self.container.get("volumeMounts") or []:
            v = volumes.get(vm["name"], {})
            src = self.dir / "volumes" / vm["name"]
            read_only = bool(vm.get("readOnly"))
            if (v.get("emptyDir") or {}).get("medium") == "Memory":
                # A tmpfs, as the kubelet mounts; its size is the sizeLimit (the kubelet of
                # 1.20 leaves tmpfs unsized and evicts the pod past the limit instead).
                limit = v["emptyDir"].get("sizeLimit")
                size = int(parse_quantity(limit)) if limit else 64 * 2**20
                mounts.append(({"tmpfs": size}, vm["mountPath"], True, read_only))
                continue
            if pvc := v.get("persistentVolumeClaim"):
                src = bound_host_path(self.ctx.core, self.ns, pvc["claimName"])
                read_only = read_only or bool(pvc.get("readOnly"))
            elif hp := v.get("hostPath"):
                src = Path(hp["path"])
                if not src.exists():
                    # Type "", DirectoryOrCreate and FileOrCreate create it, as Docker did.
                    if hp.get("type") == "FileOrCreate":
                        src.parent.mkdir(parents=True, exist_ok=True)
                        src.touch()
                    else:
                        src.mkdir(parents=True, exist_ok=True)
            elif "emptyDir" in v:
                src.mkdir(parents=True, exist_ok=True)
            elif (ref := v.get("secret")) or (ref := v.get("configMap")):
                kind, name = ("secret", ref.get("secretName")) if "secret" in v else (
                    "configmap", ref.get("name"))  # fmt: skip
                src.mkdir(parents=True, exist_ok=True)
                for k, val in _data(self.ctx.core, kind, self.ns, name, False).items():
                    (src / k).write_text(val)
            elif "projected" in v:
                src.mkdir(parents=True, exist_ok=True)
                self._project(v["projected"], src)
            else:
                continue  # PVC without a local PV, …: not provided (see the simnode docstring)
            if sub := vm.get("subPath"):
                src = src / sub
            mounts.append((str(src), vm["mountPath"], src.is_dir(), read_only))
        return mounts

    def _project(self, projected: dict[str, Any], into: Path) -> None:
        """Projected ServiceAccount tokens, as the kubelet makes them: a TokenRequest for
        the pod's ServiceAccount, bound to the pod, for the source's audience. (Renewal is
        not needed: test pods live minutes, the tokens an hour.)"""
        sa = self.pod["spec"].get("serviceAccountName") or "default"
        for source in projected.get("sources") or []:
            if not (token := source.get("serviceAccountToken")):
                continue  # configMap/secret/downwardAPI sources: not provided
            request = {"spec": {
                "audiences": [token["audience"]] if token.get("audience") else [],
                "expirationSeconds": int(token.get("expirationSeconds") or 3600),
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": self.name,
                                   "uid": self.uid},
            }}  # fmt: skip
            made = self.ctx.core.create_namespaced_service_account_token(sa, self.ns, request)
            (into / token["path"]).write_text(made.status.token)

    def _status(self, phase, state, restarts=0, last_state=None, ready=True, why=None) -> None:
        """Strategic-merge-patch the pod status as the kubelet's status manager would."""
        running = phase == "Running" and "running" in state
        cond = "True" if running and ready else "False"
        reason = None if cond == "True" else ("PodCompleted" if phase in ("Succeeded", "Failed")
                                              else "ContainersNotReady")  # fmt: skip
        # SMP merges maps: the states not in effect must be deleted explicitly.
        full_state = {"waiting": None, "running": None, "terminated": None, **state}
        cs = {"name": self.container["name"], "image": self.container.get("image", ""),
              "imageID": "", "ready": running and ready, "started": running,
              "restartCount": restarts, "state": full_state,
              "lastState": last_state or {}}  # fmt: skip
        if self.proc:
            cs["containerID"] = f"simnode://{self.proc.pid}"
        status = {
            "phase": phase, "hostIP": POD_IP, "podIP": POD_IP, "podIPs": [{"ip": POD_IP}],
            "startTime": self.pod.get("status", {}).get("startTime") or self._start_time(),
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": cond, "reason": reason},
                {"type": "ContainersReady", "status": cond, "reason": reason},
            ],
            "containerStatuses": [cs],
        }  # fmt: skip
        for c in status["conditions"]:
            c["lastTransitionTime"] = now()
        status.update(why or {})  # the pod's own reason/message (e.g. Evicted)
        try:
            self.ctx.core.patch_namespaced_pod_status(self.name, self.ns, {"status": status})
        except ApiException as e:
            if e.status != 404:  # a pod that is already gone needs no status
                raise

    def _start_time(self) -> str:
        if not hasattr(self, "_started_at"):
            self._started_at = now()
        return self._started_at


def bound_host_path(core: CoreV1Api, ns: str, claim: str) -> Path:
    """The directory behind a bound PersistentVolumeClaim: its PersistentVolume's hostPath
    (or local path). The kubelet would attach and mount the volume; here it is a directory."""
    try:
        pvc = core.read_namespaced_persistent_volume_claim(claim, ns)
    except ApiException as e:
        if e.status == 404:
            raise ConfigError(f'persistentvolumeclaim "{claim}" not found') from None
        raise
    if not pvc.spec.volume_name or (pvc.status and pvc.status.phase != "Bound"):
        raise ConfigError(f'persistentvolumeclaim "{claim}" is not bound')
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    source = pv.spec.host_path or pv.spec.local
    if source is None:
        raise ConfigError(f"simnode: volume {pv.metadata.name} is neither hostPath nor local")
    return Path(source.path)


def wrap_in_mount_ns(
    argv: list[str], mounts: list[tuple[Any, str, bool, bool]], stage: Path
) -> list[str]:
    """argv run in a private mount namespace with ``mounts`` bind-mounted first (podns.py)."""
    spec = json.dumps({"stage": str(stage), "mounts": mounts})
    helper = str(Path(__file__).with_name("podns.py"))
    return ["unshare", "--mount", "--propagation", "private",
            sys.executable, "-I", helper, spec, *argv]  # fmt: skip


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def delete_pod(core: CoreV1Api, ns: str, name: str, uid: str) -> None:
    """The kubelet's last word on a pod: delete the object with grace 0 (UID-guarded)."""
    body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
    try:
        core.delete_namespaced_pod(name, ns, body=body)
    except ApiException as e:
        if e.status not in (404, 409):  # gone, or a new pod of the same name
            raise
