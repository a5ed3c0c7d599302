"""Progress reports: ``kinetic.report_progress()`` inside a job, and reading them back.

A report is a small JSON record at ``jobs/{id}/progress.json`` in the job's store. Reports
are coalesced and written at most once a second by a background thread, so calling it in
a tight loop is cheap; the runner copies the last one into the job's final record. In a
Kubernetes pod the latest report is also pushed to the operator (progress_push.py), which
shows it in the KineticJob (``kubectl get kj`` PROGRESS).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from typing import Any

from .context import job_id
from .errors import KineticError
from .store import Store, layout

_progress_lock = threading.Lock()
_progress_latest: dict | None = None
_progress_writer: threading.Thread | None = None
_progress_closing = threading.Event()
PROGRESS_INTERVAL = 1.0


def report_progress(fraction: float, message: str | None = None, **metrics: object) -> None:
    """Inside a job: say how far it is (0.0-1.0), with an optional message and metrics.

    The latest report reaches ``handle.state().progress`` and ``kinetic jobs list`` within
    about a second; calling often is cheap (reports are coalesced). Outside a job: nothing.
    """
    from .status import format_time, utcnow

    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not 0 <= fraction <= 1
    ):
        raise ValueError(
            f"report_progress: fraction must be a number from 0 to 1, got {fraction!r}"
        )
    record = {"fraction": float(fraction), "message": message, "metrics": metrics,
              "updated": format_time(utcnow())}  # fmt: skip
    try:
        json.dumps(record)
    except TypeError as exc:
        raise ValueError(f"report_progress: metrics must be JSON values ({exc})") from None
    if not job_id() or not os.environ.get("KINETIC_STORE_URI"):
        return
    global _progress_latest, _progress_writer
    with _progress_lock:
        _progress_latest = record
        if _progress_writer is None or not _progress_writer.is_alive():
            _progress_writer = threading.Thread(target=_write_progress, daemon=True)
            _progress_writer.start()
    from . import progress_push

    progress_push.offer(record)


def _write_progress() -> None:
    """Write the latest report, then keep writing newer ones at most once a second."""
    from .store import open_store

    global _progress_latest
    store = open_store(os.environ["KINETIC_STORE_URI"])
    key = layout.progress_key(job_id() or "")
    while True:
        with _progress_lock:
            record, _progress_latest = _progress_latest, None
        if record is None:
            return
        with contextlib.suppress(Exception):  # progress is advisory: never fail the job
            store.write_bytes(key, json.dumps(record).encode())
        _progress_closing.wait(PROGRESS_INTERVAL)


def flush_progress(timeout: float = 5.0) -> None:
    """Wait for a pending report to be written (the worker calls this before it ends)."""
    _progress_closing.set()
    writer = _progress_writer
    if writer is not None:
        writer.join(timeout)
    from . import progress_push

    progress_push.flush(timeout)


def read_progress(store: Store, job: str) -> dict | None:
    """A job's latest report, if it made one."""
    try:
        return json.loads(store.read_bytes(layout.progress_key(job)))
    except (KineticError, ValueError):
        return None


MAX_MESSAGE, MAX_METRICS, MAX_METRIC_NAME = 200, 20, 63
MAX_REPORT_BYTES = 16 * 1024


def validate_report(raw: Any) -> dict[str, Any] | None:
    """``{fraction, message?, metrics, updated?}`` from what a job sent, or None when the
    fraction is not a number in [0, 1]. It comes from the job, so it is bounded: the
    message is cut to 200 characters, metrics keep at most 20 finite numbers."""
    from .status import format_time, parse_time

    if not isinstance(raw, dict):
        return None
    fraction = raw.get("fraction")
    if not _number(fraction) or not 0 <= fraction <= 1:
        return None
    report: dict[str, Any] = {"fraction": float(fraction)}
    message = raw.get("message")
    if isinstance(message, str) and message:
        report["message"] = message if len(message) <= MAX_MESSAGE else message[:199] + "…"
    metrics = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    numeric = [
        (k, v)
        for k, v in metrics.items()
        if isinstance(k, str) and 0 < len(k) <= MAX_METRIC_NAME and _number(v)
    ]
    report["metrics"] = dict(sorted(numeric)[:MAX_METRICS])
    try:
        updated = parse_time(raw["updated"]) if isinstance(raw.get("updated"), str) else None
    except ValueError:
        updated = None
    if updated is not None:
        report["updated"] = format_time(updated)
    return report


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
