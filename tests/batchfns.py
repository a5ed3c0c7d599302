"""Functions that batch tests run as items. A module of the test project: it travels by value.

Items record what they did in a directory the test gives them (``log``): one file per
start, with the index and the start and end times, so a test can check the concurrency
limit and that no item ran twice.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import kinetic


def _record(log: str, index: int, started: float, **more) -> None:
    entry = {"index": index, "batch_index": kinetic.batch_index(), "start": started,
             "end": time.time(), "pid": os.getpid(), **more}  # fmt: skip
    path = Path(log) / f"{index}-{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry))
    tmp.rename(path)


def square(x):
    return x * x


def whoami(x):
    return {"x": x, "index": kinetic.batch_index(), "job": os.environ.get("KINETIC_JOB_ID")}


def timed(index, log, seconds=0.5):
    """Sleep ``seconds``, recording start and end."""
    started = time.time()
    time.sleep(seconds)
    _record(log, index, started)
    return index


def fail_if(index, bad, seconds=0.0, log=None):
    """Raise ValueError for the indices in ``bad``, after ``seconds``."""
    started = time.time()
    time.sleep(seconds)
    if log:
        _record(log, index, started)
    if index in bad:
        raise ValueError(f"item {index} is bad")
    return index * 10


def flaky(index, flags):
    """Fail while ``flags/INDEX`` exists; the first attempt removes it (retries then pass)."""
    flag = Path(flags) / str(index)
    if flag.exists():
        flag.unlink()
        raise RuntimeError(f"flaky {index}")
    return index


def fail_while_flag(index, flag):
    """Fail as long as the file ``flag`` exists (retry_failed passes once it is removed)."""
    if index % 2 and Path(flag).exists():
        raise RuntimeError(f"flagged {index}")
    return index


def flagged_timed(index, flag, log, seconds=0.3):
    """Record each run's start and end; odd indices fail while the file ``flag`` exists."""
    started = time.time()
    time.sleep(seconds)
    _record(log, index, started)
    if index % 2 and Path(flag).exists():
        raise RuntimeError(f"flagged {index}")
    return index
