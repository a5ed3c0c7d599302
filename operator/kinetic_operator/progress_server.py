"""The operator's progress endpoint: jobs POST their latest report here and it reaches the
KineticJob's status (``kubectl get kj`` PROGRESS). See kinetic/progress_push.py.

Who may report for which job is the API server's word, not the request's: each pod sends a
token of its ServiceAccount bound to that pod and minted for the audience
``kinetic-progress``; a TokenReview names the pod, and the pod's labels (from the
operator's own pod watch) name its job and attempt. A report for any other job is refused
(403), so no job can change another's record, and nothing is created per job. A token's
review is cached until shortly before it expires, so a job costs about one TokenReview.

Where it sits: the ``Controller`` (controller.py) starts one ``ProgressEndpoint`` in the
operator process when ``KINETIC_PROGRESS_LISTEN`` (host:port) is set. The endpoint finds a
pod's job in kopf's index of pods (so a deleted pod is forgotten with it) and hands each
accepted report to the Controller, which keeps it in the job's state and syncs the job, at
most one status write per job every ``progress_write_interval`` seconds (operator_settings.py). The
endpoint itself keeps only the token reviews, each until its token expires or its pod goes.
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
POD_UID = "authentication.kubernetes.io/pod-uid"
Key = tuple[str, str]  # (namespace, job id)
PodRef = tuple[str, str, int]  # (namespace, job id, attempt) of a pod, from its labels
REVIEW_LIFETIME = 600.0  # a cached review is trusted this long at most


def pod_ref(pod: Any) -> PodRef | None:
    """The job and attempt a pod of a job reports for, from its labels (kopf's pod index)."""
    meta = pod.get("metadata") or {}
    job_id = (meta.get("labels") or {}).get(LABEL_JOB_ID)
    return (meta.get("namespace") or "", job_id, attempt_of(pod)) if job_id else None


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
class ReviewCache:
    """Token reviews, each until shortly before its token expires (at most
    ``REVIEW_LIFETIME``): a pod's reports cost about one TokenReview. An entry goes when it
    expires (swept as new ones come) or when its pod is deleted (``forget_pod``)."""

    SWEEP_EVERY = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}  # sha256(token) -> (pod uid, until)
        self._next_sweep = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, digest: str) -> str | None:
        with self._lock:
            cached = self._entries.get(digest)
        return cached[0] if cached and cached[1] > time.time() else None

    def put(self, digest: str, uid: str, until: float) -> None:
        now = time.time()
        with self._lock:
            self._entries[digest] = (uid, until)
            if now >= self._next_sweep:
                self._next_sweep = now + self.SWEEP_EVERY
                for key in [k for k, (_, t) in self._entries.items() if t <= now]:
                    del self._entries[key]

    def forget_pod(self, uid: str) -> None:
        with self._lock:
            for key in [k for k, (u, _) in self._entries.items() if u == uid]:
                del self._entries[key]


def reviewed_pod(token: str, review: Callable[[str], dict[str, Any]], cache: ReviewCache) -> str:
    """The uid of the pod ``token`` is bound to (the API server's TokenReview says)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    if cached := cache.get(digest):
        return cached
    status = review(token)
    extra = (status.get("user") or {}).get("extra") or {}
    uids = extra.get(POD_UID) or []
    if not status.get("authenticated") or PROGRESS_AUDIENCE not in (status.get("audiences") or []):
        raise Refused(401, "the token is not valid for the audience kinetic-progress")
    if len(uids) != 1:
        raise Refused(401, "the token is not bound to a pod")
    cache.put(digest, uids[0], min(_expiry(token), time.time() + REVIEW_LIFETIME) - 30)
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
class ProgressEndpoint:
    """Takes reports: ``review`` asks the API server about a token, ``pod_of`` names the job
    and attempt of a pod uid (None: not seen yet), ``on_report`` receives each accepted
    report. ``serve`` starts the HTTP server in a daemon thread; ``stop`` ends it."""

    def __init__(
        self,
        review: Callable[[str], dict[str, Any]],
        pod_of: Callable[[str], PodRef | None],
        on_report: Callable[[Key, dict[str, Any]], None],
    ) -> None:
        self.review, self.pod_of, self.on_report = review, pod_of, on_report
        self.reviews = ReviewCache()
        self.server: ThreadingHTTPServer | None = None

    def check(self, token: str, raw: bytes) -> tuple[Key, dict[str, Any]]:
        """One report: who sent it and whether it may; the job and report. Raises Refused."""
        uid = reviewed_pod(token, self.review, self.reviews)
        try:
            body = json.loads(raw)
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        return accept(body, self.pod_of(uid))

    def forget_pod(self, uid: str) -> None:
        """The pod is gone: its tokens will not be seen again."""
        self.reviews.forget_pod(uid)

    def serve(self, listen: str) -> ThreadingHTTPServer:
        """Start the endpoint on ``host:port`` in a daemon thread; returns the server."""
        host, _, port = listen.rpartition(":")
        endpoint = self

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
                    token, raw = auth[len("Bearer ") :].strip(), self.rfile.read(length)
                    key, report = endpoint.check(token, raw)
                except Refused as exc:
                    self._answer(exc.code, str(exc))
                    return
                except Exception as exc:  # the API server unreachable, for one
                    log.warning("progress: a report could not be checked: %s", exc)
                    self._answer(503, "the operator cannot check reports right now")
                    return
                # Answered first: the job need not wait while a sync of it holds its state.
                self._answer(202, "accepted")
                try:
                    endpoint.on_report(key, report)
                except Exception:  # the next report tries again
                    log.exception("progress: could not keep the report of %s/%s", *key)

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
        self.server = server
        return server

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
