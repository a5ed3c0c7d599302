"""The real node's cluster DNS: what CoreDNS is in a real cluster, reduced to what Kinetic
needs. Pods resolve ``<service>.<namespace>.svc[.cluster.local]`` to the Service's
ClusterIP (the chart's progress URL, a job's endpoints); names outside ``cluster.local``
are resolved by this machine's resolver. A, and empty answers for other types.

Served over UDP on docker0's address, which the kubelet gives pods as their nameserver
(``--cluster-dns``). Services are read from the API server at each query (a test cluster
has few).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

DOMAIN = "cluster.local"
A, CLASS_IN = 1, 1
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def _parse_question(packet: bytes) -> tuple[str, int, int]:
    """(name, qtype, end offset of the question) of a query's first question."""
    labels, i = [], 12
    while packet[i]:
        n = packet[i]
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _qclass = struct.unpack("!HH", packet[i + 1 : i + 5])
    return ".".join(labels).lower(), qtype, i + 5


def _answer(query: bytes, end: int, rcode: int, addresses: list[str]) -> bytes:
    (qid,) = struct.unpack("!H", query[:2])
    rd = query[2] & 0x01
    flags = 0x8000 | (rd << 8) | 0x0480 | rcode  # QR, AA, RA, the query's RD
    header = struct.pack("!HHHHHH", qid, flags, 1, len(addresses), 0, 0)
    answers = b"".join(
        struct.pack("!HHHIH", 0xC00C, A, CLASS_IN, 5, 4) + socket.inet_aton(a) for a in addresses
    )
    return header + query[12:end] + answers


class ClusterDNS:
    def __init__(self, api: Any, address: str, port: int = 53) -> None:
        self.api, self.address, self.port = api, address, port
        self.sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ClusterDNS:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, self.port))
        self._thread = threading.Thread(target=self._serve, name="cluster-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.sock:
            sock, self.sock = self.sock, None
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread:
            self._thread.join(5)

    def _serve(self) -> None:
        while self.sock:
            try:
                packet, peer = self.sock.recvfrom(1500)
            except OSError:
                return
            threading.Thread(target=self._reply, args=(packet, peer), daemon=True).start()

    def _reply(self, packet: bytes, peer: tuple[str, int]) -> None:
        try:
            name, qtype, end = _parse_question(packet)
            rcode, addresses = self.resolve(name)
            reply = _answer(packet, end, rcode, addresses if qtype == A else [])
        except Exception:
            if len(packet) < 12:
                return
            reply = packet[:2] + struct.pack("!HHHHH", 0x8180 | SERVFAIL, 0, 0, 0, 0)
        sock = self.sock
        if sock:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

    def resolve(self, name: str) -> tuple[int, list[str]]:
        if name == DOMAIN or name.endswith("." + DOMAIN):
            parts = name[: -len(DOMAIN) - 1].split(".") if name != DOMAIN else []
            if len(parts) == 3 and parts[2] == "svc":
                ip = self._cluster_ip(parts[1], parts[0])
                if ip:
                    return NOERROR, [ip]
            return NXDOMAIN, []
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return NXDOMAIN, []
        return NOERROR, sorted({i[4][0] for i in infos})

    def _cluster_ip(self, namespace: str, service: str) -> str | None:
        from kubernetes import client

        try:
            svc = client.CoreV1Api(self.api).read_namespaced_service(service, namespace)
        except client.ApiException:
            return None
        ip = svc.spec.cluster_ip
        return ip if ip and ip != "None" else None
