"""Reaching into a running job on Kubernetes: port-forward and exec, through the API
server's pod subresources (``pods/portforward``, ``pods/exec``) over websockets, as
``kubectl port-forward`` and ``kubectl exec -it`` do."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kinetic.k8s.names import CONTAINER, LABEL_JOB_ID
from kinetic.model.errors import BackendError
from kinetic.model.status import JobStatus

if TYPE_CHECKING:
    from kinetic.backends.kubernetes import KubernetesBackend
    from kinetic.model.job_record import JobRecord

RESIZE_CHANNEL = 4


def _backend() -> KubernetesBackend:
    from kinetic.backends import get_backend
    from kinetic.backends.kubernetes import KubernetesBackend

    backend = get_backend("kubernetes")
    assert isinstance(backend, KubernetesBackend)
    return backend


def _core(handle: JobRecord):
    return _backend().core_api(handle)


def running_pod(handle: JobRecord) -> str:
    """The name of the job's running pod; BackendError saying why when there is none."""
    state = _backend().state(handle)
    if state.status != JobStatus.RUNNING:
        why = f" ({state.reason}: {state.message})" if state.reason else ""
        raise BackendError(f"job {handle.job_id} is {state.status.value}{why}, not RUNNING")
    namespace = handle.extra["namespace"]
    try:
        pods = (
            _core(handle)
            .list_namespaced_pod(namespace, label_selector=f"{LABEL_JOB_ID}={handle.job_id}")
            .items
        )
    except Exception as exc:
        raise BackendError(f"listing the pods of job {handle.job_id}: {_why(exc)}") from None
    running = [
        p.metadata.name
        for p in pods
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    ]
    if not running:
        raise BackendError(f"job {handle.job_id} has no running pod (yet)")
    preferred = state.extra.get("pod")
    return preferred if isinstance(preferred, str) and preferred in running else running[0]


def _why(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status == 403:
        return (
            "forbidden (bind the chart's kinetic-user role: it allows pods/exec and "
            "pods/portforward)"
        )
    body = getattr(exc, "body", None) or ""
    try:
        return json.loads(body).get("message") or str(exc)
    except (TypeError, ValueError):
        return getattr(exc, "reason", None) or str(exc)


# -- port-forward ----------------------------------------------------------------------------
def port_forward(
    handle: JobRecord,
    port: int,
    local_port: int,
    *,
    ready: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    address: str = "127.0.0.1",
) -> None:
    """Serve ``address:local_port``, each connection forwarded to ``port`` of the job's pod,
    until ``stop`` is set (or KeyboardInterrupt). ``local_port`` 0 picks a free one."""
    pod = running_pod(handle)  # refuse before listening, with the reason
    stop = stop or threading.Event()
    with socket.create_server((address, local_port)) as listener:
        listener.settimeout(0.2)
        if ready:
            ready(listener.getsockname()[1])
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(
                target=_forward_one, args=(handle, pod, port, conn), daemon=True
            ).start()


def _forward_one(handle: JobRecord, pod: str, port: int, conn: socket.socket) -> None:
    """One local connection: its own websocket to the pod's port (as kubectl does per
    connection), bytes copied both ways until either side closes."""
    from kubernetes.stream import portforward

    core = _core(handle)
    try:
        forward = portforward(
            core.connect_get_namespaced_pod_portforward,
            pod, handle.extra["namespace"], ports=str(port),
        )  # fmt: skip
    except Exception as exc:
        print(f"[kinetic] port-forward to {pod}:{port} failed: {_why(exc)}", file=sys.stderr)
        conn.close()
        return
    remote = forward.socket(port)
    remote.setblocking(True)
    try:
        _pipe(conn, remote)
    finally:
        conn.close()
        remote.close()
        if error := forward.error(port):
            print(f"[kinetic] port-forward to {pod}:{port}: {error}", file=sys.stderr)


def _pipe(a: Any, b: Any) -> None:
    sockets = [a, b]
    while sockets:
        readable, _, _ = select.select(sockets, [], [], 1.0)
        for sock in readable:
            other = b if sock is a else a
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return  # one side closed: a forwarded TCP connection ends with it
            other.sendall(data)


# -- exec ------------------------------------------------------------------------------------
def exec_in_job(handle: JobRecord, command: list[str]) -> int:
    """Run ``command`` in the job's container with our terminal (a TTY when stdin is one),
    returning its exit code."""
    from kubernetes.stream import stream

    pod = running_pod(handle)
    tty = sys.stdin.isatty()
    core = _core(handle)
    try:
        ws = stream(
            core.connect_get_namespaced_pod_exec, pod, handle.extra["namespace"],
            container=CONTAINER, command=command, stdin=True, stdout=True, stderr=True,
            tty=tty, _preload_content=False, binary=True,
        )  # fmt: skip
    except Exception as exc:
        raise BackendError(f"exec in pod {pod}: {_why(exc)}") from None
    with _raw_terminal(tty):
        if tty:
            _send_size(ws)
            signal.signal(signal.SIGWINCH, lambda *_: _send_size(ws))
        _relay(ws, tty)
    ws.close()
    try:
        return ws.returncode or 0
    except Exception:
        return 1


def _relay(ws: Any, tty: bool) -> None:
    stdin_open = True
    while ws.is_open():
        watched = [ws.sock.sock] + ([sys.stdin] if stdin_open else [])
        readable, _, _ = select.select(watched, [], [], 0.5)
        if sys.stdin in readable:
            data = os.read(sys.stdin.fileno(), 65536)
            if data:
                ws.write_stdin(data)
            else:
                stdin_open = False
                if tty:
                    ws.write_stdin(b"\x04")  # the remote terminal reads ^D as end of input
                else:
                    ws.close_channel(0)  # protocol v5 only: 1.20's v4 has no way to say EOF
        ws.update(timeout=0)
        for out, channel in ((sys.stdout, 1), (sys.stderr, 2)):
            if ws.peek_channel(channel):
                out.buffer.write(ws.read_channel(channel))
                out.flush()


def _send_size(ws: Any) -> None:
    with contextlib.suppress(Exception):
        size = os.get_terminal_size(sys.stdout.fileno())
        if not size.columns or not size.lines:
            return  # a terminal without a size (a bare pty): keep the remote default
        payload = json.dumps({"Width": size.columns, "Height": size.lines}).encode()
        ws.write_channel(RESIZE_CHANNEL, payload)


@contextlib.contextmanager
def _raw_terminal(tty: bool):
    if not tty:
        yield
        return
    import termios
    import tty as ttymod

    saved = termios.tcgetattr(sys.stdin.fileno())
    try:
        ttymod.setraw(sys.stdin.fileno(), termios.TCSANOW)  # keep what was typed ahead
        yield
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
