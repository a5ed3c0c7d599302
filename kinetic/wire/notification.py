"""A job's end as a notification: the JSON posted to each ``notify=`` URL (pure).

Where it sits: the runner (kinetic.job.notify_delivery, local and SLURM jobs) and the
operator (kinetic_operator.notifier, Kubernetes jobs) build the message here when a job
ends and post it with kinetic.wire.webhook; the spec (kinetic.spec.notify_options) checks
the URLs and the events with the helpers here. A URL is a secret (a Slack webhook's path is
its key): everything a user sees — the handle, the KineticJob, logs, the CLI, the delivery
records — names only its host (``url_host``).

The message::

    {"kinetic": 1, "event": "failed", "job_id": "…", "name": "…", "function": "mod.fn",
     "status": "FAILED", "reason": "UserError", "message": "…", "duration_s": 12.3,
     "attempts": 1, "finished": "2026-…Z", "log_tail": ["…", …], "logs_command": "kinetic …"}

A Slack incoming webhook (``hooks.slack.com``) gets Slack's own shape instead: ``text``
(the fallback line) and ``blocks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

# The events a job's end can notify, named after its terminal status.
NOTIFY_EVENTS = ("failed", "succeeded", "cancelled")
LOG_TAIL_LINES = 20  # the last lines of output a notification carries
LOG_LINE_CHARS = 300  # each cut to this (a progress bar may be one long line)
MESSAGE_CHARS = 2000
SLACK_HOSTS = ("hooks.slack.com",)
FORMAT_VERSION = 1


def url_host(url: str) -> str:
    """What may be shown of a notify URL: its host (and port), never its path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def event_of(status: str) -> str | None:
    """The notification event of a terminal status ("FAILED" → "failed"); None otherwise."""
    event = str(status).lower()
    return event if event in NOTIFY_EVENTS else None


def wanted(notify_on: Iterable[str] | None, status: str) -> bool:
    """Whether a job ending with ``status`` notifies (``notify_on`` None: every event)."""
    event = event_of(status)
    return event is not None and (notify_on is None or event in set(notify_on))


def is_slack(url: str) -> bool:
    return url_host(url) in SLACK_HOSTS


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` non-empty lines of a job's output, each cut to a bounded length."""
    kept = [line.rstrip("\r") for line in text.splitlines() if line.strip()][-lines:]
    return [line if len(line) <= LOG_LINE_CHARS else line[: LOG_LINE_CHARS - 1] + "…"
            for line in kept]  # fmt: skip


def logs_command(job_id: str, store: str | None = None) -> str:
    """The command that prints the job's whole log, from any machine with the store."""
    return f"kinetic jobs logs {job_id}" + (f" --store {store}" if store else "")


def build_notification(
    *,
    job_id: str,
    function: str,
    status: str,
    reason: str | None,
    message: str | None,
    duration: float | None,
    attempts: int,
    finished: str | None,
    log_lines: list[str],
    logs_cmd: str,
    name: str | None = None,
) -> dict[str, Any]:
    """The JSON message of a job's end (see the module docstring)."""
    if message and len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    return {
        "kinetic": FORMAT_VERSION,
        "event": event_of(status),
        "job_id": job_id,
        "name": name,
        "function": function,
        "status": str(status),
        "reason": reason,
        "message": message,
        "duration_s": None if duration is None else round(duration, 3),
        "attempts": attempts,
        "finished": finished,
        "log_tail": list(log_lines),
        "logs_command": logs_cmd,
    }


SLACK_EMOJI = {"succeeded": ":white_check_mark:", "failed": ":x:", "cancelled": ":no_entry_sign:"}


def slack_body(note: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format: a fallback ``text`` and Block Kit ``blocks``."""
    title = note.get("name") or note["job_id"]
    duration = note.get("duration_s")
    took = f" after {_seconds(duration)}" if duration is not None else ""
    headline = f"Kinetic job {title} {note.get('event') or note['status']}{took}"
    detail = [f"*function* `{note['function']}`", f"*status* {note['status']}"]
    if note.get("reason"):
        detail.append(f"*reason* {note['reason']}")
    if note.get("attempts", 0) > 1:
        detail.append(f"*attempts* {note['attempts']}")
    emoji = SLACK_EMOJI.get(note.get("event") or "", "")
    blocks: list[dict[str, Any]] = [
        mrkdwn(f"{emoji} *{headline}*"),
        mrkdwn("  ·  ".join(detail)),
    ]
    if note.get("message"):
        blocks.append(mrkdwn(f">{str(note['message'])[:2900]}"))
    if note.get("log_tail"):
        tail = "\n".join(note["log_tail"])[-2800:].replace("```", "'''")
        blocks.append(mrkdwn(f"```{tail}```"))
    return slack_message(headline, blocks, note["logs_command"])


def body_for(url: str, note: Mapping[str, Any]) -> dict[str, Any]:
    """What is posted to ``url``: Slack's format for a Slack webhook, else the message."""
    return slack_body(note) if is_slack(url) else dict(note)


def mrkdwn(text: str) -> dict[str, Any]:
    """A Block Kit section of Slack's markdown."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_message(headline: str, blocks: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """A Slack message: its fallback text, its blocks, and the command to see more last."""
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{command}`"}]}
    return {"text": headline, "blocks": [*blocks, context]}


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


@dataclass(frozen=True)
class Delivery:
    """One URL's delivery, as the job's state records it (the host only, never the URL)."""

    host: str
    outcome: str  # "sending", "delivered" or "failed"
    tries: int = 0
    code: int | None = None  # the last HTTP status answered, if any
    error: str | None = None  # the last failure, in a line (never the URL)
    at: str | None = None  # when the outcome was known

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delivery:
        known = {"host", "outcome", "tries", "code", "error", "at"}
        return cls(**{k: v for k, v in data.items() if k in known})


def describe_deliveries(records: Iterable[Mapping[str, Any]]) -> str:
    """The delivery records in one line, for ``kinetic jobs status``."""
    parts = []
    for record in records:
        delivery = Delivery.from_dict(record)
        text = f"{delivery.host}: {delivery.outcome}"
        if delivery.tries:
            text += f" ({delivery.tries} {'try' if delivery.tries == 1 else 'tries'}"
            text += (
                f", {delivery.error})" if delivery.outcome == "failed" and delivery.error else ")"
            )
        parts.append(text)
    return "; ".join(parts) or "-"
