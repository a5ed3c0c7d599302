"""The status that starts a queued-again batch item's next attempt (pure).

Where it sits: ``retry_failed()`` on the client (kinetic.backends.k8s_batch) labels each failed item
(kinetic.k8s.batch_items); the batch driver (batch_driver.py) picks them as slots free and
asks the Controller (controller.py, ``requeue``) to start each one, which writes this
patch. It is what a retry inside a job writes (decisions.py, ``_retry_patch``): the failed
attempt becomes a record in ``previousAttempts``, the next attempt is PENDING with no Job
yet, so the Controller's next sync creates that attempt's Job, at once. The earlier Jobs
and the store's records of earlier attempts stay as evidence.
"""

from __future__ import annotations

from typing import Any

from kinetic.k8s.batch_items import item_attempt
from kinetic.k8s.kineticjob_body import KineticJob
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus, format_time, utcnow


def restart_patch(kj: KineticJob) -> dict[str, Any]:
    """The status patch that turns a FAILED item into its next attempt, starting now."""
    status = kj.get("status") or {}
    attempt, now = item_attempt(kj), format_time(utcnow())
    record = {
        "attempt": attempt,
        "reason": status.get("reason"),
        "message": status.get("message"),
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime") or now,
        "nodeName": status.get("nodeName"),
        "exitCode": status.get("exitCode"),
    }
    previous = list(status.get("previousAttempts") or [])
    return {
        "phase": JobStatus.PENDING.value,
        "reason": Reason.BATCH_QUEUED.value,
        "message": f"attempt {attempt} failed ({status.get('reason')}); "
        f"attempt {attempt + 1} started by retry_failed()",
        "attempts": attempt + 1,
        "previousAttempts": [*previous, {k: v for k, v in record.items() if v is not None}],
        "retryAt": now,
        # The next attempt starts from nothing: its Job, pod and result are yet to come.
        # (startTime stays: a job's start is its first attempt's, as with its own retries.)
        **dict.fromkeys(["jobName", "podName", "nodeName", "exitCode", "result"]),
        "completionTime": None,
    }
