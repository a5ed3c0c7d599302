"""Inside the job: ``kinetic.report_progress()``.

A report is a small JSON record at ``jobs/{id}/progress.json`` in the job's store. Reports
are coalesced and written at most once a second by a background thread, so calling it in
a tight loop is cheap; the runner copies the last one into the job's final record. In a
Kubernetes pod the latest report is also pushed to the operator (kinetic.job.progress_push), which
shows it in the KineticJob (``kubectl get kj`` PROGRESS). Readers: kinetic.wire.progress_record.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading

from kinetic.job.context import job_id
from kinetic.model.errors import SpecError
from kinetic.store import layout

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
    from kinetic.model.status import format_time, utcnow

    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not 0 <= fraction <= 1
    ):
        raise SpecError("report_progress fraction", fraction, "a number from 0 to 1")
    record = {"fraction": float(fraction), "message": message, "metrics": metrics,
              "updated": format_time(utcnow())}  # fmt: skip
    try:
        json.dumps(record)
    except TypeError as exc:
        raise SpecError("report_progress metrics", metrics, f"JSON values ({exc})") from None
    if not job_id() or not os.environ.get("KINETIC_STORE_URI"):
        return
    global _progress_latest, _progress_writer
    with _progress_lock:
        _progress_latest = record
        if _progress_writer is None or not _progress_writer.is_alive():
            _progress_writer = threading.Thread(target=_write_progress, daemon=True)
            _progress_writer.start()
    from kinetic.job import progress_push

    progress_push.offer(record)


def _write_progress() -> None:
    """Write the latest report, then keep writing newer ones at most once a second."""
    from kinetic.store import open_store

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
    from kinetic.job import progress_push

    progress_push.flush(timeout)
