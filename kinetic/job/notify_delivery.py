"""notify=: the runner posts the job's end to its URLs (local and SLURM jobs).

Where it sits: kinetic.job.supervisor feeds the job's (masked) output to ``OutputTail`` as
it goes and, in ``finish``, asks ``JobNotifier`` first for the ``sending`` records that go
in the terminal record, then — after that record is written — to deliver and record the
outcomes. So a URL that never answers delays nothing but the runner's own exit (bounded by
kinetic.wire.webhook), and the job's status is never touched: only
``extra["notifications"]`` of its state changes. On Kubernetes the operator delivers
instead (kinetic_operator.notifier), so that nothing depends on the pod's last seconds.
The URLs came with the secrets (stdin), under ``NOTIFY_SECRET_KEY``; nothing here writes
one anywhere (the records name hosts).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

from kinetic.job.records import say, write_state
from kinetic.model.status import JobState, format_time
from kinetic.spec.notify_options import NOTIFY_SECRET_KEY
from kinetic.store import Store, layout
from kinetic.wire.notification import (
    Delivery,
    body_for,
    build_notification,
    log_tail,
    logs_command,
    wanted,
)
from kinetic.wire.webhook import deliver, post_to_all

TAIL_BYTES = 16384  # enough for the last LOG_TAIL_LINES lines of most output
RECORD_PATIENCE = 10.0  # seconds to keep trying to record the outcomes


class OutputTail:
    """The last bytes of the job's output (already masked), for the notification."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit, self.data = limit, bytearray()

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.limit:  # trimmed now and then, not on every chunk
            del self.data[: len(self.data) - self.limit]

    def lines(self) -> list[str]:
        return log_tail(bytes(self.data[-self.limit :]).decode(errors="replace"))


def take_urls(secrets: dict[str, str]) -> tuple[str, ...]:
    """The notify URLs, removed from ``secrets`` (the worker's environment must not get
    them: they are the runner's, not the job's)."""
    text = secrets.pop(NOTIFY_SECRET_KEY, "")
    return tuple(line for line in text.splitlines() if line.strip())


def post_and_say(
    urls: tuple[str, ...],
    hosts: list[str],
    body: Callable[[str], dict],
    post: Callable[..., Delivery],
    what: str,
) -> list[Delivery]:
    """Post ``body(url)`` to every URL at once, and say each outcome in the job's log
    (``what`` to HOST: outcome); without URLs, each host's failed record saying why."""
    if not urls:  # a relaunched runner: the URLs went to the lost one's stdin
        why = "the notify URLs did not reach this runner (relaunched after a loss)"
        results = [Delivery(h, "failed", 0, None, why) for h in hosts]
    else:
        results = post_to_all(urls, body, post)
    for result in results:
        say(f"{what} to {result.host}: {result.outcome}"
            + (f" ({result.error})" if result.error else ""))  # fmt: skip
    return results


@dataclasses.dataclass
class JobNotifier:
    store: Store
    job_id: str
    handle: dict
    urls: tuple[str, ...]
    tail: OutputTail = dataclasses.field(default_factory=OutputTail)
    post: Callable[..., Delivery] = deliver  # kinetic.wire.webhook.deliver

    @property
    def hosts(self) -> list[str]:
        return list((self.handle.get("spec") or {}).get("notify_hosts") or [])

    def wants(self, state: JobState) -> bool:
        spec = self.handle.get("spec") or {}
        return bool(self.hosts) and wanted(spec.get("notify_on"), state.status.value)

    def sending(self, state: JobState) -> JobState:
        """The terminal state with a ``sending`` record per URL (what status shows until
        the outcomes are known)."""
        records = [Delivery(h, "sending").to_dict() for h in self.hosts]
        return dataclasses.replace(state, extra={**state.extra, "notifications": records})

    def deliver_and_record(self, final: JobState) -> JobState:
        """Post to every URL at once; record the outcomes in the job's state."""
        note = build_notification(
            job_id=self.job_id,
            function=self.handle.get("function") or "?",
            name=self.handle.get("name"),
            status=final.status.value,
            reason=final.reason,
            message=final.message,
            duration=final.duration,
            attempts=final.attempts,
            finished=format_time(final.finished),
            log_lines=self.tail.lines(),
            logs_cmd=logs_command(self.job_id, self.store.uri),
        )
        results = post_and_say(self.urls, self.hosts, lambda url: body_for(url, note),
                               self.post, "notification")  # fmt: skip
        recorded = dataclasses.replace(
            final, extra={**final.extra, "notifications": [r.to_dict() for r in results]}
        )
        # A job cleaned up meanwhile (result() with cleanup) must not get a record back.
        with contextlib.suppress(Exception):
            if self.store.exists(layout.handle_key(self.job_id)):
                write_state(self.store, self.job_id, recorded, RECORD_PATIENCE)
        return recorded
