"""notify= and notify_on=: where a job's end is posted, and for which ends.

Where it sits: JobSpec calls these checks; a missing ``notify`` takes the ``notify``
setting (config file ``notify = ["https://…"]`` or ``KINETIC_NOTIFY``, comma-separated) in
``JobSpec.resolved``. The URLs are secrets: an error names only the host, and the spec's
serialized form keeps only the hosts (``notify_hosts``); the values go where secret_env's
go (the runner's stdin locally, the job's Secret on Kubernetes).
"""

from __future__ import annotations

from typing import Any

from kinetic.model.errors import SpecError
from kinetic.wire.notification import NOTIFY_EVENTS, url_host

MAX_URLS = 10
MAX_URL_CHARS = 2048
# The Secret key (and the runner's stdin entry) that carries the URLs, one a line: not a
# secret_env name, so the job's own environment never gets it.
NOTIFY_SECRET_KEY = "kinetic-notify-urls"


def check_notify(value: object) -> tuple[str, ...]:
    """http(s) URLs, each with a host; a single URL may be given as a string."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    accepted = f"a list of up to {MAX_URLS} http:// or https:// URLs"
    if not isinstance(items, list | tuple):
        raise SpecError("notify", type(value).__name__, accepted)
    if len(items) > MAX_URLS:
        raise SpecError("notify", f"{len(items)} URLs", accepted)
    checked: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise SpecError("notify", type(item).__name__, accepted)
        url = item.strip()
        scheme = url.split(":", 1)[0].lower()
        host = url_host(url)
        if scheme not in ("http", "https") or host in ("?", "") or len(url) > MAX_URL_CHARS:
            # Only what may be shown: the scheme and host, never the rest of a secret URL.
            raise SpecError("notify", f"{scheme}://{host}/…", accepted)
        if any(c.isspace() for c in url):
            raise SpecError("notify", f"{scheme}://{host}/…", "URLs without whitespace")
        if url not in checked:
            checked.append(url)
    return tuple(checked)


def check_notify_on(value: object) -> tuple[str, ...] | None:
    """Some of failed, succeeded, cancelled; None: all of them."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    accepted = f"a list of {', '.join(NOTIFY_EVENTS)}"
    if not isinstance(items, list | tuple) or not items:
        raise SpecError("notify_on", value, accepted)
    for item in items:
        if item not in NOTIFY_EVENTS:
            raise SpecError("notify_on", item, accepted)
    return tuple(e for e in NOTIFY_EVENTS if e in items)


def notify_setting(value: Any) -> tuple[str, ...]:
    """The ``notify`` setting: a TOML list, or comma-separated text (``KINETIC_NOTIFY``)."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    return check_notify(value)
