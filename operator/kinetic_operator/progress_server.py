"""The operator's progress endpoint: jobs POST their latest report here and it reaches the
KineticJob's status (``kubectl get kj`` PROGRESS). See kinetic/progress_push.py.

Who may report for which job is the API server's word, not the request's: each pod sends a
token of its ServiceAccount bound to that pod and minted for the audience
``kinetic-progress``; a TokenReview names the pod, and the pod's labels (from the
operator's own pod watch) name its job and attempt. A report for any other job is refused
(403), so no job can change another's record, and nothing is created per job. A token's
review is cached until shortly before it expires, so a job costs about one TokenReview.

The server runs in the operator process (``KINETIC_PROGRESS_LISTEN``, host:port); the
reports wait in memory until ``sync`` writes them, at most one status write per job every
``MIN_WRITE_INTERVAL`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kinetic.k8s.job_manifest import PROGRESS_AUDIENCE, attempt_of
from kinetic.k8s.names import LABEL_JOB_ID
from kinetic.wire.progress_record import MAX_REPORT_BYTES, validate_report

log = logging.getLogger("kinetic.operator")

PATH = "/progress"
MIN_WRITE_INTERVAL = 2.0
POD_UID = "authentication.kubernetes.io/pod-uid"
Key = tuple[str, str]  # (namespace, job id)

_lock = threading.Lock()
_pods: dict[str, tuple[str, str, int]] = {}  # pod uid -> (namespace, job id, attempt)
_reports: dict[Key, dict[str, Any]] = {}
_reviews: dict[str, tuple[str, float]] = {}  # sha256(token) -> (pod uid, valid until)
_pending: dict[Key, threading.Timer] = {}
_last_wake: dict[Key, float] = {}


# -- what the watches tell us ------------------------------------------------------------------
def remember_pod(pod: dict[str, Any], deleted: bool = False) -> None:
    """Keep the pod → job map current (called from the pod watch)."""
    meta = pod.get("metadata") or {}
    uid, job_id = meta.get("uid"), (meta.get("labels") or {}).get(LABEL_JOB_ID)
    if not uid or not job_id:
        return
    with _lock:
        if deleted:
            _pods.pop(uid, None)
        else:
            _pods[uid] = (meta.get("namespace") or "", job_id, attempt_of(pod))


def forget_job(key: Key) -> None:
    with _lock:
        _reports.pop(key, None)
        _last_wake.pop(key, None)
        if timer := _pending.pop(key, None):
            timer.cancel()


def latest(key: Key) -> dict[str, Any] | None:
    """The job's latest report not yet known to be in its status (None: nothing new)."""
    with _lock:
        return _reports.get(key)


# -- deciding about one request (pure, given the review) -----------------------------------------
class Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def accept(body: Any, pod: tuple[str, str, int] | None) -> tuple[Key, dict[str, Any]]:
    """The job and the validated report a request may set, for the reviewed ``pod``."""
    if pod is None:
        raise Refused(503, "the operator does not know this pod yet; try again")
    namespace, job_id, attempt = pod
    if not isinstance(body, dict):
        raise Refused(400, "expected a JSON object {job_id, attempt, report}")
    if body.get("job_id") != job_id or body.get("attempt", attempt) != attempt:
        raise Refused(403, f"this pod reports for job {job_id} (attempt {attempt}) only")
    report = validate_report(body.get("report"))
    if report is None:
        raise Refused(400, "report.fraction must be a number from 0 to 1")
    return (namespace, job_id), report


# -- the TokenReview -------------------------------------------------------------------------------
def reviewed_pod(token: str, review: Callable[[str], dict[str, Any]]) -> str:
    """The uid of the pod ``token`` is bound to (the API server's TokenReview says)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    with _lock:
        cached = _reviews.get(digest)
    if cached and cached[1] > time.time():
        return cached[0]
    status = review(token)
    extra = (status.get("user") or {}).get("extra") or {}
    uids = extra.get(POD_UID) or []
    if not status.get("authenticated") or PROGRESS_AUDIENCE not in (status.get("audiences") or []):
        raise Refused(401, "the token is not valid for the audience kinetic-progress")
    if len(uids) != 1:
        raise Refused(401, "the token is not bound to a pod")
    with _lock:
        _reviews[digest] = (uids[0], min(_expiry(token), time.time() + 600) - 30)
    return uids[0]


def _expiry(token: str) -> float:
    """The token's ``exp`` (the API server verified it; this only bounds the cache)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time()


def api_review(api: Any) -> Callable[[str], dict[str, Any]]:
    from kubernetes import client

    def review(token: str) -> dict[str, Any]:
        body = {"spec": {"token": token, "audiences": [PROGRESS_AUDIENCE]}}
        # The client serializes dict bodies as they are; its annotations say V1TokenReview.
        result = client.AuthenticationV1Api(api).create_token_review(body)  # type: ignore[arg-type]
        return api.sanitize_for_serialization(result).get("status") or {}

    return review


# -- the server ----------------------------------------------------------------------------------
def handle(token: str, raw: bytes, review: Callable[[str], dict[str, Any]]) -> Key:
    """One report: who sent it, whether it may, and keep it. Raises Refused."""
    uid = reviewed_pod(token, review)
    with _lock:
        pod = _pods.get(uid)
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    key, report = accept(body, pod)
    with _lock:
        _reports[key] = report
    return key


def wake_soon(key: Key, wake: Callable[[Key], None]) -> None:
    """Run ``wake(key)`` now, or once MIN_WRITE_INTERVAL has passed since the last time."""
    with _lock:
        if key in _pending:
            return  # a write is already coming and will take the latest report
        delay = max(0.0, _last_wake.get(key, 0.0) + MIN_WRITE_INTERVAL - time.monotonic())
        timer = threading.Timer(delay, _wake, (key, wake))
        timer.daemon = True
        _pending[key] = timer
    timer.start()


def _wake(key: Key, wake: Callable[[Key], None]) -> None:
    with _lock:
        _pending.pop(key, None)
        _last_wake[key] = time.monotonic()
    try:
        wake(key)
    except Exception:  # the next report or event tries again
        log.exception("progress: could not write the report of %s/%s", *key)


def serve(listen: str, review: Callable[[str], dict[str, Any]], wake: Callable[[Key], None]):
    """Start the endpoint on ``host:port`` in a daemon thread; returns the server."""
    host, _, port = listen.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            auth = self.headers.get("Authorization", "")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                if self.path != PATH:
                    raise Refused(404, f"reports go to {PATH}")
                if not auth.startswith("Bearer "):
                    raise Refused(401, "a Bearer token is required")
                if length > MAX_REPORT_BYTES + 1024:
                    raise Refused(413, f"reports are at most {MAX_REPORT_BYTES} bytes")
                key = handle(auth[len("Bearer ") :].strip(), self.rfile.read(length), review)
            except Refused as exc:
                self._answer(exc.code, str(exc))
                return
            except Exception as exc:  # the API server unreachable, for one
                log.warning("progress: a report could not be checked: %s", exc)
                self._answer(503, "the operator cannot check reports right now")
                return
            self._answer(202, "accepted")
            wake_soon(key, wake)

        def _answer(self, code: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass  # one line per report would drown the operator's log

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="kinetic-progress", daemon=True).start()
    log.info("progress: accepting reports on %s%s", listen, PATH)
    return server
