"""The ``debug`` option: a debugpy server in the job, on a port the job declares.

``debug=True`` adds ``Port("debug", DEBUG_PORT, "tcp")`` to the job's ports (as ``ssh=True``
adds 2202), unless the job declares its own port named ``debug`` (any number the port rules
accept, tcp): that one is used. The runner's worker listens there (``kinetic.job.debugger``)
and waits up to ``debug_wait`` seconds for a client before it runs the function;
``kinetic jobs debug ID`` connects one.
"""

from __future__ import annotations

from kinetic.model.errors import SpecError
from kinetic.model.spec_record import PortRecord
from kinetic.spec.ports import Port

DEBUG_PORT_NAME = "debug"
# debugpy's customary 5678, moved into the range a job's ports may use (8002-65535).
DEBUG_PORT = 15678
MAX_DEBUG_WAIT = 24 * 3600


def check_debug(debug: object, ports: tuple[Port, ...]) -> tuple[Port, ...]:
    """The job's ports with the debugger's added when ``debug`` is True."""
    if not isinstance(debug, bool):
        raise SpecError("debug", debug, "True or False")
    if not debug:
        return ports
    declared = [p for p in ports if p.name == DEBUG_PORT_NAME]
    if declared:
        if declared[0].proto == "udp":
            raise SpecError("ports", str(declared[0]), "a tcp port named debug (debugpy's is TCP)")
        return ports
    for p in ports:
        if p.port == DEBUG_PORT:
            raise SpecError(
                "ports", str(p),
                f"no other port on {DEBUG_PORT} with debug=True (or declare the debugger's "
                "own port: ports=['debug:PORT'])",
            )  # fmt: skip
    return (*ports, Port(DEBUG_PORT_NAME, DEBUG_PORT, "tcp"))


def debug_port(ports: list[PortRecord]) -> int | None:
    """The port a debug job's debugpy listens on, from its spec's ports (dicts)."""
    for p in ports:
        if p.get("name") == DEBUG_PORT_NAME:
            return p["port"]
    return None
