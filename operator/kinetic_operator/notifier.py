"""notify= on Kubernetes: the operator posts a job's end, so it arrives with no client.

Where it sits: after every sync, ``Controller`` asks ``notify_due`` (pure) whether a
KineticJob has just ended with ``spec.notify`` and no delivery done; if so it records a
``sending`` entry per host in ``status.notifications`` and runs ``deliver_all`` on a thread
of its own (a URL that never answers holds no sync and no status write). ``deliver_all``
reads the URLs from the job's Secret (key ``kinetic-notify-urls``: the pod never gets it)
and the last lines of the job's pod log, builds the message (kinetic.wire.notification),
posts it to each URL with bounded retries (kinetic.wire.webhook), and returns the outcomes
for the Controller to write. Only hosts reach the KineticJob, its Events and this log.

At least once: an operator restarted while it delivered finds ``sending`` entries and no
delivery of its own running, and delivers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.names import LABEL_JOB_ID, SELECTOR
from kinetic.model.status import JobStatus, parse_time
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.wire.notification import (
    LOG_TAIL_LINES,
    Delivery,
    body_for,
    build_notification,
    log_tail,
    logs_command,
    wanted,
)
from kinetic.wire.webhook import deliver, post_to_all

if TYPE_CHECKING:
    from kinetic_operator.cluster import Cluster

log = logging.getLogger("kinetic.operator")


def notify_due(kj: dict[str, Any]) -> bool:
    """Whether this KineticJob's end is still to be posted (pure): it has ended, its
    ``notify.on`` wants that end, and no delivery has an outcome yet."""
    notify = (kj.get("spec") or {}).get("notify") or {}
    status = kj.get("status") or {}
    phase = status.get("phase") or ""
    if not notify.get("hosts") or phase not in _ENDS:
        return False
    if ((kj.get("spec") or {}).get("workflow") or {}).get("summary"):
        return False  # a workflow's member: its workflow sends one summary (workflow_notifier)
    if not wanted(notify.get("on"), phase):
        return False
    records = status.get("notifications") or []
    return all(r.get("outcome") == "sending" for r in records)


_ENDS = {s.value for s in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)}


def sending(kj: dict[str, Any]) -> list[dict[str, Any]]:
    """The records written before delivering: one ``sending`` entry per host."""
    return [Delivery(h, "sending").to_dict() for h in kj["spec"]["notify"]["hosts"]]


def message_of(kj: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """The notification of a KineticJob that ended (pure)."""
    spec, status = kj["spec"], kj.get("status") or {}
    started, finished = (
        parse_time(status.get("startTime")),
        parse_time(status.get("completionTime")),
    )
    duration = (finished - started).total_seconds() if started and finished else None
    job_id = kj["metadata"]["name"]
    return build_notification(
        job_id=job_id,
        function=spec.get("function") or "?",
        status=status["phase"],
        reason=status.get("reason"),
        message=status.get("message"),
        duration=duration,
        attempts=int(status.get("attempts") or 0),
        finished=status.get("completionTime"),
        log_lines=lines,
        logs_cmd=logs_command(job_id, spec.get("store")),
    )


def deliver_all(
    cluster: Cluster, kj: dict[str, Any], post: Callable[..., Delivery] = deliver
) -> list[dict[str, Any]]:
    """Read the URLs and the log tail, post to every URL at once; the outcome records."""
    namespace, job_id = kj["metadata"]["namespace"], kj["metadata"]["name"]
    urls, undelivered = read_urls(cluster, namespace, job_id, kj["spec"].get("notify") or {})
    if not urls:
        return undelivered
    note = message_of(kj, _log_tail(cluster, namespace, (kj.get("status") or {}).get("podName")))
    return post_and_log(urls, lambda url: body_for(url, note), post,
                        f"job {namespace}/{job_id}: notification")  # fmt: skip


def read_urls(
    cluster: Cluster, namespace: str, owner: str, notify: Mapping[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The notify URLs in the Secret of ``owner`` (a job or a batch; they travel there, as
    a job's secret env does); when there are none, each of ``notify``'s hosts' failed
    record saying why, to be written instead."""
    hosts, name = list(notify.get("hosts") or []), secret_name(owner)
    try:
        text = cluster.read_secret_value(namespace, name, NOTIFY_SECRET_KEY)
        urls = [u for u in (text or "").splitlines() if u.strip()]
    except Exception as exc:  # gone, or not readable: say so in each host's record
        why = f"cannot read the Secret {name}: {getattr(exc, 'status', exc)}"
        return [], [Delivery(h, "failed", 0, None, why).to_dict() for h in hosts]
    if urls:
        return urls, []
    why = f"no notify URLs in the Secret {name}"
    if source := notify.get("urlsFrom"):
        why = f"the notify URLs of {source} were gone when this retry of it started"
    return [], [Delivery(h, "failed", 0, None, why).to_dict() for h in hosts]


def post_and_log(
    urls: list[str], body: Callable[[str], dict], post: Callable[..., Delivery], what: str
) -> list[dict[str, Any]]:
    """Post ``body(url)`` to every URL at once and log each outcome (``what`` to HOST:
    outcome); the outcome records."""
    results = post_to_all(urls, body, post)
    for result in results:
        log.info("%s to %s: %s%s", what, result.host, result.outcome,
                 f" ({result.error})" if result.error else "")  # fmt: skip
    return [r.to_dict() for r in results]


def carry_urls(cluster: Cluster, kj: dict[str, Any]) -> bool:
    """A retry (``spec.notify.urlsFrom``): copy the original's URLs into the retry's own
    Secret, before its first Job, so the original may be deleted meanwhile. The client
    never reads them (its role may create Secrets, not read them). False: none found."""
    namespace, job_id = kj["metadata"]["namespace"], kj["metadata"]["name"]
    source = kj["spec"]["notify"]["urlsFrom"]
    try:
        text = cluster.read_secret_value(namespace, secret_name(source), NOTIFY_SECRET_KEY)
    except Exception as exc:  # gone with its KineticJob: the delivery will say so
        log.warning("job %s/%s: the notify URLs of %s: %s", namespace, job_id, source,
                    getattr(exc, "status", type(exc).__name__))  # fmt: skip
        return False
    if not text:
        return False
    labels = {**SELECTOR, LABEL_JOB_ID: job_id}
    cluster.put_secret_value(namespace, secret_name(job_id), NOTIFY_SECRET_KEY, text, labels)
    log.info("job %s/%s: notify URLs carried over from %s", namespace, job_id, source)
    return True


def _log_tail(cluster: Cluster, namespace: str, pod: str | None) -> list[str]:
    """The last lines of the job's pod log (masked by the runner as it wrote them)."""
    if not pod:
        return []
    try:
        text = cluster.pod_log_tail(namespace, pod, LOG_TAIL_LINES * 2)
    except Exception:  # a pod already gone, a node that does not answer: no lines
        return []
    return log_tail(text or "")
