"""Inside a Kubernetes pod: push the job's latest progress report to the operator, which
shows it in the KineticJob (``kubectl get kj`` PROGRESS).

The operator's Job gives the pod the operator's address (``KINETIC_PROGRESS_URL``) and a
projected ServiceAccount token bound to this very pod, minted for the audience
``kinetic-progress`` (``KINETIC_PROGRESS_TOKEN_FILE``; the kubelet renews it). The operator
asks the API server who the token belongs to (a TokenReview) and accepts a report only for
the job of that pod: a job cannot speak for another. No object is created per job.

At most one report every ``PUSH_INTERVAL`` seconds goes out, the latest winning, the last
one flushed when the job ends. Progress is advisory: nothing here ever fails the job. When
reports cannot get through, the job's log says so once; they reach the store either way.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

ENV_URL = "KINETIC_PROGRESS_URL"
ENV_TOKEN_FILE = "KINETIC_PROGRESS_TOKEN_FILE"
# One report (and so one status write by the operator) per job every 5 s at most: it still
# shows within 15 s, and many busy jobs cost the operator and the API server little.
PUSH_INTERVAL = 5.0
REQUEST_TIMEOUT = 5.0


def note(text: str) -> None:
    """A line in the job's log, as the runner writes its own."""
    print(f"[kinetic] {text}", file=sys.stderr, flush=True)


class ProgressPush:
    """Sends the latest report to the operator from a background thread."""

    def __init__(self, url: str, token_file: str, job_id: str, attempt: int) -> None:
        self.url, self.token_file = url, token_file
        self.job_id, self.attempt = job_id, attempt
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._stopped = False
        self._warned = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ProgressPush | None:
        """The pusher this pod was set up for; None outside such a pod."""
        env = dict(os.environ if env is None else env)
        url, token_file, job_id = (
            env.get(ENV_URL),
            env.get(ENV_TOKEN_FILE),
            env.get("KINETIC_JOB_ID"),
        )
        if not (url and token_file and job_id):
            return None  # not a pod of an operator that takes reports: the store is enough
        return cls(url, token_file, job_id, int(env.get("KINETIC_ATTEMPT") or 1))

    def offer(self, record: dict[str, Any]) -> None:
        """Make ``record`` the next report to send (replacing one not yet sent)."""
        with self._lock:
            if self._stopped:
                return
            self._latest = record
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kinetic-progress-push", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float) -> None:
        """Send the pending report now, and wait up to ``timeout`` for it to go."""
        self._closing.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:  # deciding to exit under the lock: offer() then starts anew
                record, self._latest = self._latest, None
                if record is None or self._stopped:
                    self._thread = None
                    return
            if not self.send(record) and not self._stopped:
                with self._lock:  # keep it for the next try unless a newer one came
                    self._latest = self._latest or record
            self._closing.wait(PUSH_INTERVAL)

    def send(self, record: dict[str, Any]) -> bool:
        """Post one report; False when it did not get there."""
        import urllib.error
        import urllib.request

        try:
            with open(self.token_file) as f:  # re-read: the kubelet renews it
                token = f.read().strip()
        except OSError as exc:
            return self._stop(f"its token cannot be read: {exc.strerror}")
        body = {"job_id": self.job_id, "attempt": self.attempt, "report": record}
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=REQUEST_TIMEOUT) as response:
                response.read()
            return True
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()[:200]
            if exc.code in (403, 404):  # not this pod's job, or the job is gone: for good
                return self._stop(f"the operator answered {exc.code}: {detail}")
            self._warn(f"the operator answered {exc.code}: {detail}")
        except (OSError, ValueError) as exc:  # unreachable, timeout
            self._warn(str(getattr(exc, "reason", exc)))
        return False

    def _stop(self, why: str) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._stopped = True
        note(f"progress reports no longer reach the cluster ({why}); they still reach the store")
        return False

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            note(f"a progress report did not reach the cluster ({why}); later ones will try again")


_pusher: ProgressPush | None = None
_pusher_made = False
_pusher_lock = threading.Lock()


def offer(record: dict[str, Any]) -> None:
    """report_progress(): hand the report to this pod's pusher, if it has one."""
    global _pusher, _pusher_made
    with _pusher_lock:
        if not _pusher_made:
            _pusher_made = True
            _pusher = ProgressPush.from_env()
    if _pusher is not None:
        _pusher.offer(record)


def flush(timeout: float) -> None:
    if _pusher is not None:
        _pusher.flush(timeout)
