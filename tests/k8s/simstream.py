"""The kubelet's streaming endpoints for the simulated node (test-only): ``/exec`` and
``/portForward`` over websockets, the way the API server proxies ``pods/exec`` and
``pods/portforward`` to a kubelet (an upgrade-aware proxy: the client's websocket handshake
reaches us unchanged and the bytes are piped both ways).

What it implements, after the kubelet (``pkg/kubelet/cri/streaming``):
  - the websocket handshake (RFC 6455) with the subprotocol ``v4.channel.k8s.io``: every
    frame starts with a channel byte;
  - exec: channels 0 stdin, 1 stdout, 2 stderr, 3 error (a ``metav1.Status`` when the command
    ends: ``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the code as the
    cause), 4 resize (``{"Width": w, "Height": h}``); with ``tty=1`` the command gets a
    pseudo-terminal (stdout carries both streams). The command runs with the container's
    env and working directory, in the pod's mount namespace when it has one;
  - port-forward: for each ``port`` query parameter, channels 2i (data) and 2i+1 (error),
    each opened with a frame holding the port number (little endian); data goes to and
    from a TCP connection to 127.0.0.1:port (the pod's IP on this node).

Not implemented: SPDY (kubectl's protocol before 1.29; clients here use websockets), the
v5 channel protocol (1.20's API server does not offer it), attach.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import pty
import shutil
import socket
import struct
import subprocess
import termios
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOL = "v4.channel.k8s.io"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4


class WebSocket:
    """The server side of one websocket, on a handler's connection."""

    def __init__(self, req: BaseHTTPRequestHandler) -> None:
        self.rfile, self.wfile = req.rfile, req.wfile
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def accept(cls, req: BaseHTTPRequestHandler) -> WebSocket | None:
        key = req.headers.get("Sec-WebSocket-Key")
        offered = [p.strip() for p in (req.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
        if req.headers.get("Upgrade", "").lower() != "websocket" or not key:
            req.send_error(400, "simnode serves exec and port-forward over websockets only")
            return None
        if PROTOCOL not in offered:
            req.send_error(400, f"simnode speaks {PROTOCOL} only (offered: {offered})")
            return None
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        req.protocol_version = "HTTP/1.1"  # a 101 is HTTP/1.1 (this request only: logs are 1.0)
        req.send_response(101, "Switching Protocols")
        req.send_header("Upgrade", "websocket")
        req.send_header("Connection", "Upgrade")
        req.send_header("Sec-WebSocket-Accept", accept)
        req.send_header("Sec-WebSocket-Protocol", PROTOCOL)
        req.end_headers()
        req.wfile.flush()
        req.close_connection = True
        return cls(req)

    def send(self, channel: int, data: bytes = b"", opcode: int = OP_BINARY) -> None:
        payload = bytes([channel]) + data if opcode == OP_BINARY else data
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self._lock:
            if self.closed:
                return
            try:
                self.wfile.write(header + payload)
                self.wfile.flush()
            except OSError:
                self.closed = True

    def close(self) -> None:
        self.send(0, struct.pack("!H", 1000), OP_CLOSE)
        with self._lock:
            self.closed = True

    def receive(self) -> tuple[int, bytes] | None:
        """The next data message as (channel, data); None when the client closed."""
        message, first_op = b"", None
        while True:
            head = self._read(2)
            if head is None:
                return None
            fin, opcode = head[0] & 0x80, head[0] & 0x0F
            masked, n = head[1] & 0x80, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2) or b"\0\0")[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8) or b"\0" * 8)[0]
            mask = self._read(4) if masked else b"\0\0\0\0"
            data = self._read(n) if n else b""
            if mask is None or data is None:
                return None
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == OP_CLOSE:
                return None
            if opcode == OP_PING:
                self.send(0, data, OP_PONG)
                continue
            if opcode == OP_PONG:
                continue
            first_op = opcode if first_op is None else first_op
            message += data
            if fin:
                if not message:
                    return STDIN, b""
                return message[0], message[1:]

    def _read(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            try:
                chunk = self.rfile.read(n - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data


# -- exec ------------------------------------------------------------------------------------
def serve_exec(req: BaseHTTPRequestHandler, worker: Any, query: str) -> None:
    q = parse_qs(query)
    command = q.get("command") or []
    flag = lambda name: (q.get(name) or ["0"])[-1] in ("1", "true")  # noqa: E731
    tty = flag("tty")
    if not command:
        req.send_error(400, "no command")
        return
    ws = WebSocket.accept(req)
    if ws is None:
        return
    argv = list(command)
    pid = worker.proc.pid if worker.proc is not None else None
    if worker.ctx.mount_ns and pid and shutil.which("nsenter"):
        argv = ["nsenter", f"--target={pid}", "--mount", "--", *argv]  # the pod's mounts
    env, cwd = worker.exec_env, worker.exec_cwd
    try:
        if tty:
            proc, outputs, stdin_fd = _start_tty(argv, env, cwd)
        else:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.PIPE if flag("input") else
                subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            outputs = [(proc.stdout.fileno(), STDOUT), (proc.stderr.fileno(), STDERR)]
            stdin_fd = proc.stdin.fileno() if proc.stdin else None
    except OSError as exc:
        _status(ws, 126, f"cannot run {argv[0]}: {exc.strerror}")
        ws.close()
        return
    pumps = [threading.Thread(target=_pump, args=(fd, ws, ch), daemon=True) for fd, ch in outputs]
    for t in pumps:
        t.start()
    threading.Thread(target=_feed, args=(ws, stdin_fd, tty), daemon=True).start()
    code = proc.wait()
    for t in pumps:
        t.join(5)
    _status(ws, code if code >= 0 else 128 - code)
    ws.close()


def _start_tty(argv, env, cwd):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, env={**env, "TERM": env.get("TERM", "xterm")}, cwd=cwd,
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )  # fmt: skip
    os.close(slave)
    return proc, [(master, STDOUT)], master


def _pump(fd: int, ws: WebSocket, channel: int) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # a pty's master reads EIO once the command is gone
            data = b""
        if not data:
            return
        ws.send(channel, data)


def _feed(ws: WebSocket, fd: int | None, tty: bool) -> None:
    while (message := ws.receive()) is not None:
        channel, data = message
        if channel == STDIN and fd is not None and data:
            with contextlib.suppress(OSError):
                os.write(fd, data)
        elif channel == RESIZE and tty and fd is not None:
            with contextlib.suppress(ValueError, KeyError, OSError):
                size = json.loads(data)
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size["Height"],
                                                                size["Width"], 0, 0))  # fmt: skip
    if fd is not None and not tty:
        with contextlib.suppress(OSError):
            os.close(fd)


def _status(ws: WebSocket, code: int, message: str = "") -> None:
    if code == 0:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": message or f"command terminated with non-zero exit code: {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }  # fmt: skip
    ws.send(ERROR, json.dumps(status).encode())


# -- port-forward ----------------------------------------------------------------------------
def serve_port_forward(req: BaseHTTPRequestHandler, worker: Any, query: str) -> None:
    q = parse_qs(query)
    ports = [int(p) for value in q.get("port", []) + q.get("ports", []) for p in value.split(",")]
    if len(ports) != 1:
        req.send_error(400, "simnode forwards one port per connection")
        return
    ws = WebSocket.accept(req)
    if ws is None:
        return
    port = ports[0]
    prefix = struct.pack("<H", port)
    ws.send(0, prefix)  # data channel
    ws.send(1, prefix)  # error channel
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as exc:
        ws.send(1, f"error forwarding port {port} to pod {worker.name}: {exc}".encode())
        ws.close()
        return
    conn.settimeout(None)
    reader = threading.Thread(target=_to_pod, args=(ws, conn), daemon=True)
    reader.start()
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        ws.send(0, data)
    conn.close()
    ws.close()


def _to_pod(ws: WebSocket, conn: socket.socket) -> None:
    while (message := ws.receive()) is not None:
        channel, data = message
        if channel == 0 and data:
            try:
                conn.sendall(data)
            except OSError:
                break
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
