"""A minimal Debug Adapter Protocol client (what VS Code speaks to debugpy), for tests:
requests and their responses, events, over one TCP connection with DAP's framing
(``Content-Length: N\\r\\n\\r\\n`` then N bytes of JSON)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


class DapClient:
    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.seq = 0
        self.buffer = b""
        self.received: list[dict[str, Any]] = []  # messages not yet taken by expect()

    def close(self) -> None:
        self.sock.close()

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send a request and return its (successful) response's body."""
        seq = self.send(command, **arguments)
        response = self.response(seq)
        assert response["success"], response
        return response.get("body") or {}

    def response(self, seq: int) -> dict[str, Any]:
        return self.expect(lambda m: m["type"] == "response" and m["request_seq"] == seq)

    def event(self, name: str, timeout: float | None = None) -> dict[str, Any]:
        found = self.expect(lambda m: m["type"] == "event" and m["event"] == name, timeout)
        return found.get("body") or {}

    def expect(self, matches, timeout: float | None = None) -> dict[str, Any]:
        """The first message (received already or to come) that ``matches``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, message in enumerate(self.received):
                if matches(message):
                    return self.received.pop(i)
            if time.monotonic() > deadline:
                seen = [(m["type"], m.get("event") or m.get("command")) for m in self.received]
                raise TimeoutError(f"no matching DAP message; received {seen}")
            self.received.append(self._read())

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        fields = dict(line.split(b":", 1) for line in header.split(b"\r\n") if b":" in line)
        length = int(fields[b"Content-Length"].strip())
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the debug adapter closed the connection")
        self.buffer += chunk


def debug_session(
    client: DapClient, config: dict[str, Any], source: str, line: int
) -> dict[str, Any]:
    """As VS Code attaches with ``config`` (a launch.json configuration): initialize,
    attach, a breakpoint at ``source:line``, configurationDone. Returns the breakpoint's
    ``setBreakpoints`` answer; the caller waits for the ``stopped`` event."""
    client.request("initialize", clientID="kinetic-tests", adapterID="debugpy",
                   pathFormat="path", linesStartAt1=True, columnsStartAt1=True)  # fmt: skip
    arguments = {k: v for k, v in config.items() if k not in ("name", "type", "request")}
    attach = client.send("attach", **arguments)
    client.event("initialized")
    answer = client.request("setBreakpoints", source={"path": source},
                            breakpoints=[{"line": line}])  # fmt: skip
    client.request("configurationDone")
    assert client.response(attach)["success"]
    return answer
