"""The progress record a job writes and others read: reading it back, and bounding it.

The job writes it (kinetic.job.progress_writer); the runner, the backends and the operator
read it. What comes from a job is bounded by validate_report before anyone shows it.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeGuard

from kinetic.model.errors import KineticError
from kinetic.store import Store, layout


def read_progress(store: Store, job: str) -> dict[str, Any] | None:
    """A job's latest report, if it made one."""
    try:
        progress: dict[str, Any] = json.loads(store.read_bytes(layout.progress_key(job)))
        return progress
    except (KineticError, ValueError):
        return None


MAX_MESSAGE, MAX_METRICS, MAX_METRIC_NAME = 200, 20, 63
MAX_REPORT_BYTES = 16 * 1024


def validate_report(raw: Any) -> dict[str, Any] | None:
    """``{fraction, message?, metrics, updated?}`` from what a job sent, or None when the
    fraction is not a number in [0, 1]. It comes from the job, so it is bounded: the
    message is cut to 200 characters, metrics keep at most 20 finite numbers."""
    from kinetic.model.status import format_time, parse_time

    if not isinstance(raw, dict):
        return None
    fraction = raw.get("fraction")
    if not _number(fraction) or not 0 <= fraction <= 1:
        return None
    report: dict[str, Any] = {"fraction": float(fraction)}
    message = raw.get("message")
    if isinstance(message, str) and message:
        report["message"] = message if len(message) <= MAX_MESSAGE else message[:199] + "…"
    metrics = raw.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
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


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
