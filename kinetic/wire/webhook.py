"""Posting a notification to one URL: bounded tries with backoff, a Delivery as the outcome.

Where it sits: below both deliverers — the runner (kinetic.job.notify_delivery) and the
operator (kinetic_operator.notifier) — which decide when to post and where to record the
outcome; this module only talks HTTP. Everything it returns names the URL's host only.

Bounded on purpose: a URL that never answers costs at most
``tries * timeout + the backoffs`` (about 30 s with the defaults) of a thread that nothing
waits for before the job's terminal record is written.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kinetic.model.status import format_time, utcnow
from kinetic.wire.notification import Delivery, url_host

TRIES = 4  # the first post and three retries
BACKOFF = 1.0  # seconds before the first retry; doubles
TIMEOUT = 5.0  # seconds one post may take (connect and answer)


def post_json(url: str, body: Mapping[str, Any], timeout: float = TIMEOUT) -> int:
    """POST ``body`` as JSON; the HTTP status. Raises on a refused or unanswered request."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "kinetic-notify/1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read(65536)
        return int(response.status)


def deliver(
    url: str,
    body: Mapping[str, Any],
    *,
    tries: int = TRIES,
    backoff: float = BACKOFF,
    timeout: float = TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Post until a 2xx answer or ``tries`` attempts; the outcome (never raises).

    A 4xx other than 408/429 is not retried: the receiver refused the message itself."""
    host, code, error = url_host(url), None, None
    for attempt in range(1, tries + 1):
        try:
            code, error = post_json(url, body, timeout), None
            if 200 <= code < 300:
                return Delivery(host, "delivered", attempt, code, None, format_time(utcnow()))
            error = f"HTTP {code}"
        except urllib.error.HTTPError as exc:
            code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                return Delivery(host, "failed", attempt, code, error, format_time(utcnow()))
        except Exception as exc:  # unreachable, refused, timed out, a bad certificate…
            code, error = None, _describe(exc, url)
        if attempt < tries:
            sleep(backoff * 2 ** (attempt - 1))
    return Delivery(host, "failed", tries, code, error, format_time(utcnow()))


def post_to_all(
    urls: Sequence[str],
    body_of: Callable[[str], Mapping[str, Any]],
    post: Callable[..., Delivery] = deliver,
) -> list[Delivery]:
    """Post ``body_of(url)`` to every URL at once (a receiver that never answers does not
    hold up the others); the outcomes, in the URLs' order. Never raises."""
    results = [Delivery(url_host(u), "failed") for u in urls]

    def send(i: int, url: str) -> None:
        results[i] = post(url, body_of(url))

    threads = [threading.Thread(target=send, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _describe(exc: Exception, url: str) -> str:
    """The failure in a line, the URL's secret part cut out if the library quoted it."""
    reason = getattr(exc, "reason", None) or exc
    text = f"{type(exc).__name__}: {reason}" if not isinstance(reason, str) else reason
    return text.replace(url, url_host(url))[:200]
