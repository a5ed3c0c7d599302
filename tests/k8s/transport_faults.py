"""Connection resets injected at the kubernetes client's HTTP transport, in another process.

    KINETIC_TEST_RESETS='before POST /apis/batch/v1/namespaces/ns/jobs' \\
    KINETIC_TEST_RESETS_LOG=resets.log \\
    python tests/k8s/transport_faults.py -m kinetic.cli operator run ...

runs the module as ``python -m`` would, with urllib3's ``PoolManager.urlopen`` — through
which the kubernetes client sends every request — wrapped. ``KINETIC_TEST_RESETS`` lists
faults separated by ``;``, each ``WHEN METHOD PATH-REGEX [BODY-TEXT]``, each used once, by
the first request that matches it (its body containing BODY-TEXT, if given):

* ``before``: the connection is reset before the request is sent (nothing happens on the
  server);
* ``after``: the request is served, then the connection is reset before the answer is
  read (the server acted; the client does not know).

Either way the caller sees what urllib3 raises for a reset connection (a POST is not
retried): ``ProtocolError('Connection aborted.', ConnectionResetError(104, ...))``. Each
fault, when injected, is appended as a line to ``KINETIC_TEST_RESETS_LOG``. Only the code
under test's own requests go through urllib3: kopf's watches use aiohttp.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ProtocolError


def install(spec: str, log: Path | None) -> None:
    faults = [[*line.split(maxsplit=3), ""][:4] for line in spec.split(";") if line.strip()]
    for when, *_ in faults:
        if when not in ("before", "after"):
            raise ValueError(f"fault {when!r}: expected before or after")
    lock = threading.Lock()
    original = urllib3.PoolManager.urlopen

    def urlopen(self: urllib3.PoolManager, method: str, url: str, *args: Any, **kw: Any) -> Any:
        path, body = urlsplit(url).path, str(kw.get("body") or "")
        with lock:
            fault = next(
                (f for f in faults
                 if f[1] == method and re.fullmatch(f[2], path) and f[3] in body), None,
            )  # fmt: skip
            if fault is not None:
                faults.remove(fault)
        if fault is None:
            return original(self, method, url, *args, **kw)
        if fault[0] == "after":
            original(self, method, url, *args, **kw)
        if log is not None:
            with log.open("a") as out:
                out.write(f"{fault[0]} {method} {path}\n")
        reset = ConnectionResetError(104, "Connection reset by peer")
        raise ProtocolError("Connection aborted.", reset)

    urllib3.PoolManager.urlopen = urlopen  # type: ignore[method-assign]


def main() -> None:
    if sys.argv[1:2] != ["-m"] or len(sys.argv) < 3:
        sys.exit("usage: transport_faults.py -m MODULE [ARGS...]")
    log = os.environ.get("KINETIC_TEST_RESETS_LOG")
    install(os.environ.get("KINETIC_TEST_RESETS", ""), Path(log) if log else None)
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
