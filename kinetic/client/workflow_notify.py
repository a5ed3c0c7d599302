"""A workflow's one summary, as its submission prepares it: the URLs, the members' share.

Where it sits: kinetic.client.workflow_run asks here, before anything is created, which
URLs the workflow's summary goes to (the file's top-level ``notify:``, ``--notify``, else
the config file's default) and what each member carries: those URLs as its own
``notify`` (so they travel as a job's do: the runner's stdin locally, the job's Secret on
Kubernetes) and its membership (``JobRecord.workflow``), marked ``summary`` so that it
sends no message of its own — the last member to end sends the workflow's
(kinetic.job.workflow_summary). The URLs are secrets: the record keeps their hosts, the
stored workflow file has them masked, and a retry finds them in this machine's private
copy (kinetic.system.notify_keep), as a job's retry does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from kinetic.client.notify_carry import NotifyNotCarried
from kinetic.model.status import format_time, utcnow
from kinetic.model.workflow_record import WorkflowRecord
from kinetic.spec import settings
from kinetic.spec.notify_options import check_notify, check_notify_on, notify_setting
from kinetic.spec.workflow_yaml import WorkflowPlan
from kinetic.system import notify_keep
from kinetic.wire.notification import url_host

MASK = "********"


@dataclass(frozen=True)
class SummaryNotify:
    urls: tuple[str, ...] = ()  # empty: no summary (and no job notifies on its own)
    notify_on: tuple[str, ...] | None = None

    @property
    def hosts(self) -> list[str]:
        return [url_host(u) for u in self.urls]


def summary_notify(plan: WorkflowPlan, notify: Any = None, notify_on: Any = None) -> SummaryNotify:
    """Where the summary of a new workflow goes: ``notify`` (the caller's, e.g. --notify)
    over the file's ``notify:``, over the config file's default."""
    urls = check_notify(notify) if notify is not None else plan.notify
    if urls is None:
        urls = notify_setting(settings.resolve("notify").value)
    on = check_notify_on(notify_on) if notify_on is not None else plan.notify_on
    return SummaryNotify(tuple(urls), on)


def retry_notify(record: WorkflowRecord) -> SummaryNotify:
    """Where the summary of a retried workflow goes: the URLs this machine kept for it;
    when it keeps none (another machine ran it, or it was cleaned up), the config file's
    default, with a NotifyNotCarried warning."""
    on = tuple(record.notify_on) if record.notify_on is not None else None
    if not record.notify_hosts:
        return SummaryNotify((), on)
    kept = notify_keep.kept(record.store, record.workflow_id)
    if kept:
        return SummaryNotify(kept, on)
    default = notify_setting(settings.resolve("notify").value)
    hosts = ", ".join(record.notify_hosts)
    note = (
        f"the notify URLs of workflow {record.workflow_id} ({hosts}) were not carried over: "
        "this machine keeps none for it (run from another machine, or cleaned up); its "
        "summary goes to the config file's default, if any"
    )
    warnings.warn(NotifyNotCarried(note), stacklevel=3)
    return SummaryNotify(tuple(default), on)


def member_options(notify: SummaryNotify) -> dict[str, Any]:
    """What every member's options get: the summary's URLs (never the config default:
    ``()`` when there are none), so they travel to whatever sends the summary."""
    return {"notify": notify.urls, "notify_on": notify.notify_on}


def membership(record: WorkflowRecord, notify: SummaryNotify) -> dict[str, Any]:
    """``JobRecord.workflow`` of every member of the record's current generation."""
    return {
        "id": record.workflow_id,
        "name": record.name,
        "generation": record.generation,
        "members": {name: record.jobs[name] for name in record.order if name in record.jobs},
        "started": format_time(utcnow()),
        "notify_on": list(notify.notify_on) if notify.notify_on is not None else None,
        "summary": bool(notify.urls),
    }


def masked_source(source: str, urls: tuple[str, ...] | None) -> str:
    """The workflow file's text as stored: each notify URL cut to its scheme and host."""
    for url in urls or ():
        scheme = url.split(":", 1)[0]
        source = source.replace(url, f"{scheme}://{url_host(url)}/{MASK}")
    return source
