"""A store full of finished jobs, written directly in the store's format (handle.json and
state.json, as the client and the runner write them), some as an older Kinetic wrote them.

Used by tests/test_job_history.py and benchmarks/bench_history.py. Deterministic: the
same seed gives the same jobs, and ``Generated`` holds what a summary of them must say.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

FUNCTIONS = ["train.fit", "train.evaluate", "etl.load_shard", "command:sh", "report.render"]
FAILED_REASONS = ["UserError", "OOMKilled", "Error", "DeadlineExceeded", "Lost"]
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Generated:
    count: int
    by_status: Counter = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)  # status -> seconds
    by_function: dict[str, Counter] = field(default_factory=dict)
    old_format: int = 0
    newest_ids: list[str] = field(default_factory=list)  # by created, newest first
    rows: list[dict] = field(default_factory=list)  # what each job is, for tests


def _iso(when: datetime, old: bool) -> str:
    if old:  # an older Kinetic: isoformat() with its offset and no fraction
        return when.replace(microsecond=0).isoformat()
    return when.isoformat().replace("+00:00", "Z")


def _spec(old: bool, uri: str, name: str | None) -> dict:
    if old:  # the first JobSpec's fields only
        return {"accelerator": "cpu", "backend": "local", "store": uri, "name": name,
                "env": {}, "timeout": None, "grace_period": 30.0}  # fmt: skip
    from kinetic.spec.job_spec import JobSpec

    return JobSpec(backend="local", store=uri, name=name).to_dict()


def write_store(
    uri: str, count: int, *, seed: int = 17, old_every: int = 5, now: datetime = NOW
) -> Generated:
    """``count`` finished local jobs in the store at ``uri`` (file:// written straight to
    disk, for speed; any other store through its API); every ``old_every``-th one in the
    older format. Jobs were created over the 30 days before ``now``."""
    from kinetic.store import layout, open_store

    rng = random.Random(seed)
    store = open_store(uri)
    base = Path(unquote(urlparse(store.uri).path)) if store.uri.startswith("file:") else None
    spec_new = _spec(False, store.uri, None)
    gen = Generated(count)
    created_order = []
    for i in range(count):
        job_id = f"job-{i:07d}-{rng.randrange(36**4):04x}"
        function = FUNCTIONS[i % len(FUNCTIONS)]
        old = old_every > 0 and i % old_every == 0
        created = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
        started = created + timedelta(seconds=rng.uniform(0.5, 30))
        duration = round(rng.lognormvariate(4, 1.2), 3)
        finished = started + timedelta(seconds=duration)
        if old:
            started = started.replace(microsecond=0)
            finished = finished.replace(microsecond=0)
            duration = (finished - started).total_seconds()
        roll = rng.random()
        status, reason = ("SUCCEEDED", None)
        if roll > 0.9:
            status, reason = "CANCELLED", "Cancelled"
        elif roll > 0.7:
            status, reason = "FAILED", FAILED_REASONS[i % len(FAILED_REASONS)]
        attempts = 2 if rng.random() < 0.05 else 1
        name = f"run-{i % 50}" if i % 3 == 0 else None
        handle = {"job_id": job_id, "backend": "local", "store": store.uri, "function": function,
                  "created": _iso(created, old), "name": name,
                  "spec": _spec(True, store.uri, name) if old else {**spec_new, "name": name},
                  "payload_sha256": "0" * 64, "extra": {}}  # fmt: skip
        if not old:
            handle.update(command=["sh", "-c", "true"] if function == "command:sh" else None,
                          client={"python": "3.11.7", "cloudpickle": "3.1.3",
                                  "kinetic": "0.1.0"}, retry_of=None)  # fmt: skip
        state = {"status": status, "reason": reason,
                 "message": None if status == "SUCCEEDED" else f"{reason} in attempt {attempts}",
                 "created": _iso(created, old), "started": _iso(started, old),
                 "finished": _iso(finished, old), "attempts": attempts,
                 "exit_code": 0 if status == "SUCCEEDED" else 1, "progress": None,
                 "node": "bench-host", "extra": {}}  # fmt: skip
        if not old:
            lost = {"attempt": 1, "reason": "Lost", "message": "gone", "started": None,
                    "finished": None, "node": None, "exit_code": None}  # fmt: skip
            state["previous_attempts"] = [lost] if attempts == 2 else []
        _write(store, base, layout.handle_key(job_id), json.dumps(handle, sort_keys=True))
        _write(store, base, layout.state_key(job_id), json.dumps(state))
        gen.by_status[status] += 1
        gen.durations.setdefault(status, []).append(duration)
        gen.by_function.setdefault(function, Counter())[status] += 1
        gen.old_format += old
        written = created.replace(microsecond=0) if old else created  # as _iso wrote it
        created_order.append((written.timestamp(), job_id))
        gen.rows.append({"job_id": job_id, "function": function, "name": name,
                         "status": status, "reason": reason, "created": created,
                         "finished": finished, "duration": duration})  # fmt: skip
    gen.newest_ids = [j for _, j in sorted(created_order, reverse=True)]
    return gen


def _write(store, base: Path | None, key: str, text: str) -> None:
    if base is None:
        store.write_bytes(key, text.encode())
        return
    path = base / key
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(text)
