"""A job's network ports (Chutes' rules) and the ssh option, validated once.

``Port(name, port, proto)``: ``name`` matches ``^[a-z]+[0-9]*$`` (and, for Kubernetes'
container port names, has at most 15 characters), ``port`` is 2202 or 8002-65535, ``proto``
is ``tcp``, ``udp`` or ``http``; names and port numbers are unique within a job.

``ssh=True`` adds ``Port("ssh", 2202, "tcp")`` and needs ``ssh_public_key``: the text of an
OpenSSH public key, or the path of a file holding one (default: ``~/.ssh/id_ed25519.pub``,
then ``~/.ssh/id_rsa.pub``). The runner starts sshd with it (see ``kinetic.job.sshd``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.model.spec_record import PortRecord

PROTOCOLS = ("tcp", "udp", "http")
SSH_PORT = 2202
MIN_PORT, MAX_PORT = 8002, 65535
MAX_NAME = 15  # a Kubernetes container port name (IANA service name) has at most 15
_NAME = re.compile(r"^[a-z]+[0-9]*\Z")
_TEXT = re.compile(r"^(?P<name>[^:/]+):(?P<port>[^:/]+)(/(?P<proto>[^:/]+))?\Z")
_PUBLIC_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)"
    r"@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)
DEFAULT_KEYS = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub")
ACCEPTED = (
    "Port(name, port, proto), {'name', 'port', 'proto'} or 'name:port[/proto]', with name "
    f"matching ^[a-z]+[0-9]*$ (at most {MAX_NAME} characters), port 2202 or "
    f"{MIN_PORT}-{MAX_PORT}, proto one of {', '.join(PROTOCOLS)}"
)


@dataclass(frozen=True)
class Port:
    """A port the job listens on: reachable at ``handle.endpoints()[name]``."""

    name: str
    port: int
    proto: str = "tcp"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SpecError(
                "ports",
                self.name,
                "a port name of lowercase letters, then digits (e.g. http, grpc2)",
            )
        if len(self.name) > MAX_NAME:
            raise SpecError("ports", self.name, f"a port name of at most {MAX_NAME} characters")
        number = self.port
        if isinstance(number, bool) or not isinstance(number, int):
            raise SpecError("ports", number, f"a port number: 2202 or {MIN_PORT}-{MAX_PORT}")
        if number != SSH_PORT and not MIN_PORT <= number <= MAX_PORT:
            raise SpecError("ports", number, f"a port number: 2202 or {MIN_PORT}-{MAX_PORT}")
        if self.proto not in PROTOCOLS:
            raise SpecError("ports", self.proto, f"a protocol: one of {', '.join(PROTOCOLS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "port": self.port, "proto": self.proto}

    def __str__(self) -> str:
        return f"{self.name}:{self.port}/{self.proto}"

    @classmethod
    def parse(cls, value: object) -> Port:
        """A Port from a Port, a dict, or text ``name:port[/proto]`` (the CLI's form)."""
        if isinstance(value, Port):
            return value
        if isinstance(value, dict):
            if set(value) - {"name", "port", "proto"} or not {"name", "port"} <= set(value):
                raise SpecError("ports", value, ACCEPTED)
            return cls(value["name"], value["port"], value.get("proto", "tcp"))
        if isinstance(value, str) and (m := _TEXT.match(value.strip())):
            if not m["port"].isdigit():
                raise SpecError("ports", value, ACCEPTED)
            return cls(m["name"], int(m["port"]), m["proto"] or "tcp")
        raise SpecError("ports", value, ACCEPTED)


SSH = Port("ssh", SSH_PORT, "tcp")


def check_ports(ports: object, ssh: object) -> tuple[Port, ...]:
    """The job's ports, normalised, with the ssh port added when ``ssh`` is True.

    A port equal to the one ssh adds is accepted (a spec read back from its dict has it);
    any other port named ``ssh`` or on 2202 is refused beside ``ssh=True``.
    """
    if not isinstance(ssh, bool):
        raise SpecError("ssh", ssh, "True or False")
    if ports is None:
        ports = ()
    if isinstance(ports, Port | dict | str):
        ports = [ports]
    if not isinstance(ports, list | tuple):
        raise SpecError("ports", ports, f"a list of ports: {ACCEPTED}")
    found = [Port.parse(p) for p in ports]
    if ssh:
        for p in found:
            if p != SSH and (p.name == SSH.name or p.port == SSH_PORT):
                raise SpecError("ports", str(p), "no port named ssh or on 2202 with ssh=True")
        found = [p for p in found if p != SSH] + [SSH]
    names, numbers = set(), set()
    for p in found:
        if p.name in names:
            raise SpecError("ports", str(p), "ports with different names")
        if p.port in numbers:
            raise SpecError("ports", str(p), "ports with different numbers")
        names.add(p.name)
        numbers.add(p.port)
    return tuple(found)


def check_public_key(value: object, ssh: bool) -> str | None:
    """The OpenSSH public key(s) to authorize, as text; None without ssh."""
    accepted = (
        "the text of an OpenSSH public key (ssh-ed25519 AAAA…) or the path of a .pub file; "
        f"with ssh=True and no key, {' or '.join(DEFAULT_KEYS)} is used if it exists"
    )
    if not ssh:
        if value is not None:
            raise SpecError("ssh_public_key", value, "a key only together with ssh=True")
        return None
    if value is None:
        for candidate in DEFAULT_KEYS:
            path = Path(candidate).expanduser()
            if path.is_file():
                value = path
                break
        else:
            raise SpecError("ssh_public_key", None, accepted)
    shown = value  # what an error shows: never a file's content (it may be a private key)
    if isinstance(value, os.PathLike) or (isinstance(value, str) and not _looks_like_key(value)):
        shown = str(value)
        try:
            value = Path(value).expanduser().read_text()
        except (OSError, UnicodeDecodeError):
            raise SpecError("ssh_public_key", shown, accepted) from None
    if not isinstance(value, str):
        raise SpecError("ssh_public_key", value, accepted)
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if not lines or not all(_PUBLIC_KEY.match(line) for line in lines):
        if shown is value and len(value) > 100:
            shown = value[:100] + "…"
        raise SpecError("ssh_public_key", shown, accepted)
    return "\n".join(lines) + "\n"


def _looks_like_key(text: str) -> bool:
    return " " in text.strip() and not text.strip().startswith(("/", "~", "."))


def port_env(ports: list[PortRecord]) -> dict[str, str]:
    """What the job sees: ``KINETIC_PORT_<NAME>=<port>`` for each of its ports."""
    return {f"KINETIC_PORT_{p['name'].upper()}": str(p["port"]) for p in ports}
