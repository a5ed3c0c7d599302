"""notify=: this machine's private copy of a job's (or a batch's) notify URLs.

Where it sits: the local backend keeps a job's URLs here when it starts its runner (the
runner itself gets them on its stdin), so that ``handle.retry()`` / ``kinetic jobs
retry`` can carry them over to the new job (kinetic.client.job_retry); a local batch's
submission keeps the batch's URLs here, so that its detached driver — and any later
generation of it, started by whoever finds it dead — can post the batch's summary
(kinetic.backends.batch_supervisor). Never in the store: a store may be shared, and a
notify URL is a secret (a Slack webhook's path is its key). The files are this user's
alone (``$KINETIC_HOME/notify/``, 0700; each file 0600), named by a digest of the store
and the id, and removed when the job or batch is cleaned up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from kinetic.model.kinetic_home import kinetic_home


def notify_home() -> Path:
    return kinetic_home() / "notify"


def _path(store_uri: str, owner_id: str) -> Path:
    # The id is readable (to find a file by hand); the store only distinguishes.
    digest = hashlib.sha256(store_uri.encode()).hexdigest()[:12]
    return notify_home() / f"{owner_id}.{digest}"


def keep(store_uri: str, owner_id: str, urls: Iterable[str]) -> None:
    """Write the URLs, one a line, readable by this user only (atomically: a reader never
    sees half of them)."""
    urls = [u for u in urls if u.strip()]
    if not urls:
        return
    directory = notify_home()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        directory.chmod(0o700)
    path = _path(store_uri, owner_id)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(urls) + "\n")
    os.replace(temporary, path)


def kept(store_uri: str, owner_id: str) -> tuple[str, ...] | None:
    """The URLs kept for ``owner_id``; None when this machine keeps none (another machine
    submitted it, it was cleaned up, or it had no notify=)."""
    try:
        text = _path(store_uri, owner_id).read_text()
    except OSError:
        return None
    urls = tuple(line for line in text.splitlines() if line.strip())
    return urls or None


def forget(store_uri: str, owner_id: str) -> None:
    _path(store_uri, owner_id).unlink(missing_ok=True)
