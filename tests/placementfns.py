"""Job functions for the runtime/volume/network tests: importable by the runner in a
simulated pod (the simulated node's PYTHONPATH is the test process's import path)."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def mount_type(path: str) -> str | None:
    """The filesystem type mounted exactly at ``path``, from the process's mount table."""
    found = None
    with open("/proc/self/mounts") as f:
        for line in f:
            _, point, fstype, *_ = line.split()
            if point == path:
                found = fstype  # the last mount at a point is the one in effect
    return found


def use_volumes(data: str, refs: str, scratch: str) -> dict:
    """Read what was placed on the claims, write back to the writable one, fill scratch."""
    seen = Path(data, "input.txt").read_text()
    Path(data, "output.txt").write_text(seen.upper())
    try:
        Path(refs, "nope.txt").write_text("x")
        refs_writable = True
    except OSError as exc:
        refs_writable = exc.errno != errno.EROFS
    Path(scratch, "small.bin").write_bytes(b"x" * 2**20)
    try:  # past the volume's size: a memory volume is bounded
        with open(os.path.join(scratch, "big.bin"), "wb") as f:
            for _ in range(64):
                f.write(b"x" * 2**20)
        scratch_full = False
    except OSError as exc:
        scratch_full = exc.errno == errno.ENOSPC
    return {
        "input": seen,
        "refs": Path(refs, "reference.txt").read_text(),
        "refs_writable": refs_writable,
        "scratch_fs": mount_type(scratch),
        "scratch_full": scratch_full,
    }
