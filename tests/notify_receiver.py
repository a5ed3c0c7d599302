"""Real HTTP receivers for notification tests: one that records what it is posted (failing
the first N posts if asked), and one that accepts connections and never answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An HTTP server on 127.0.0.1 keeping every POST: (monotonic time, path, JSON body)."""

    def __init__(self, fail_first: int = 0, host: str = "127.0.0.1") -> None:
        self.posts: list[tuple[float, str, dict]] = []
        self.arrivals: list[float] = []  # time.time() of each kept post (benchmarks)
        self.refused = 0
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.refused < receiver.fail_first:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.arrivals.append(time.time())
                receiver.posts.append((time.monotonic(), self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook/T0KEN-secret-part") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """A port that takes connections (the kernel completes them) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/never/answers"

    def close(self) -> None:
        self.sock.close()
