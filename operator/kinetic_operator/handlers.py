"""kopf handlers: thin. They keep in-memory indexes of what the watches show, and hand
every change to ``sync()``, which decides with pure functions and acts with few requests.

Watches only, no polling: KineticJobs, and Jobs and Pods carrying Kinetic's
``app.kubernetes.io/managed-by`` label. The handlers use ``on.event`` (no kopf progress
annotations, no finalizers), so the only writes are: one Job create per job, status patches
when the derived status changes, a Job delete on cancel, and Events on transitions (plus
the heartbeat Lease, renewed every 15 s: one object, not a poll over jobs). Every
decision is recomputed from what exists, so a restarted operator adopts existing Jobs and
loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from typing import Any

import kopf

from kinetic.k8s.job_manifest import OperatorConfig, attempt_of, build_job, store_is_shared
from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.names import GROUP, LABEL_JOB_ID, MANAGED_BY, PLURAL, VERSION
from kinetic.k8s.pod_volumes import build_network_policy
from kinetic.k8s.runtime_table import RuntimeTable
from kinetic.k8s.service_manifest import build_service
from kinetic.model.status import parse_time, utcnow
from kinetic_operator import cluster, heartbeat, progress_server
from kinetic_operator.decisions import (
    Action,
    attempt_number,
    decide,
    needs_runtime_table,
    status_patch,
    transition_event,
)
from kinetic_operator.reconcile import vanished

log = logging.getLogger("kinetic.operator")
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
CONFIG = OperatorConfig.from_env()
# One sync at a time per job: events for a job, its Job and its pods arrive concurrently.
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: tuple[str, str]) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Events are posted deliberately, on transitions only: no handler log becomes one.
    # (posting.enabled=False would silence kopf.event() as well.)
    settings.posting.level = logging.CRITICAL + 10
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 20
    cluster.connect()


@kopf.on.startup()
def start_heartbeat(**_: Any) -> None:
    """Renew the Lease that tells `kinetic doctor` this operator is alive (heartbeat.py)."""
    heartbeat.start_from_env(cluster.connect())


@kopf.on.cleanup()
def stop_heartbeat(**_: Any) -> None:
    heartbeat.stop()


@kopf.on.startup()
def start_progress_endpoint(**_: Any) -> None:
    """Take the jobs' progress reports (progress_server.py), when the chart asks for it."""
    if listen := os.environ.get("KINETIC_PROGRESS_LISTEN"):
        review = progress_server.api_review(cluster.connect())
        progress_server.serve(listen, review, _sync_for_progress)


# The watches' indexes, as the last handler saw them: a progress report arrives outside
# any handler and needs them to sync its job.
_indexes: tuple[kopf.Index, kopf.Index, kopf.Index] | None = None


def _sync_for_progress(key: tuple[str, str]) -> None:
    if _indexes is not None:
        sync(*key, *_indexes)


# kopf passes every handler all of its keyword arguments; its protocols (IndexingFn,
# WatchingFn) ask a handler to declare them all, with namespace Optional. These handlers take
# the ones they use, by name (the resources are namespaced), hence the ignores below.


# -- indexes: the operator's picture of the cluster, kept current by the watches ---------------
@kopf.index(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]  # kopf's handler protocol
def kineticjobs(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, name): dict(body)}


@kopf.index("batch", "v1", "jobs", labels=MANAGED)  # type: ignore[arg-type]  # kopf's handler protocol
def jobs(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels.get(LABEL_JOB_ID)): dict(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)  # type: ignore[arg-type]  # kopf's handler protocol
def pods(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels.get(LABEL_JOB_ID)): dict(body)}


# -- events: every change to a job's objects re-syncs that job ----------------------------------
@kopf.on.event(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]  # kopf's handler protocol
def kineticjob_changed(event: dict, namespace: str, name: str, **kw: Any) -> None:
    _keep_indexes(kw)
    if event.get("type") == "DELETED":
        cluster.forget((namespace, name))
        progress_server.forget_job((namespace, name))
    else:
        sync(namespace, name, kw["kineticjobs"], kw["jobs"], kw["pods"])


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)  # type: ignore[arg-type]  # kopf's handler protocol
def job_changed(namespace: str, labels: kopf.Labels, **kw: Any) -> None:
    _keep_indexes(kw)
    sync(namespace, labels.get(LABEL_JOB_ID), kw["kineticjobs"], kw["jobs"], kw["pods"])


@kopf.on.event("", "v1", "pods", labels=MANAGED)  # type: ignore[arg-type]  # kopf's handler protocol
def pod_changed(event: dict, namespace: str, labels: kopf.Labels, **kw: Any) -> None:
    _keep_indexes(kw)
    deleted = event.get("object") if event.get("type") == "DELETED" else None
    progress_server.remember_pod(event.get("object") or {}, deleted=deleted is not None)
    sync(namespace, labels.get(LABEL_JOB_ID), kw["kineticjobs"], kw["jobs"], kw["pods"], deleted)


def _keep_indexes(kw: dict[str, Any]) -> None:
    global _indexes
    _indexes = (kw["kineticjobs"], kw["jobs"], kw["pods"])


def _one(index: kopf.Index, key: tuple[str, str]) -> dict | None:
    found = list(index.get(key, []))
    return found[-1] if found else None


def _of_attempt(index: kopf.Index, key: tuple[str, str], attempt: int) -> list[dict]:
    """A job's Jobs or pods of one attempt (each retry has its own Job, kept as evidence)."""
    return [obj for obj in index.get(key, []) if attempt_of(obj) == attempt]


def sync(
    namespace: str,
    job_id: str | None,
    kjs: kopf.Index,
    js: kopf.Index,
    ps: kopf.Index,
    deleted_pod: dict | None = None,
) -> None:
    """Bring one job's objects and status in line with what exists; ``deleted_pod`` is a
    pod of it whose deletion the watch just reported."""
    if not job_id:
        return
    key = (namespace, job_id)
    try:
        _sync(key, kjs, js, ps, deleted_pod)
    except Exception as exc:
        # Event handlers are not retried by kopf, and the next event may be far off: a
        # failed write (API server busy, a webhook, RBAC being fixed) is tried again soon.
        with _locks_guard:
            delay = _failures[key] = min(_failures.get(key, 0.5) * 2, MAX_RETRY_DELAY)
            pending = _retries.get(key)
            if pending is None or not pending.is_alive():  # one retry waiting per job
                _retries[key] = timer = threading.Timer(
                    delay, sync, (*key, kjs, js, ps, deleted_pod)
                )
                timer.daemon = True
                timer.start()
        problem = f"{_describe(exc)}; trying again within {delay:.0f} s"
        log.warning("job %s/%s: %s", *key, problem)
        with contextlib.suppress(Exception):  # say it where users look, if we can
            cluster.patch_status(*key, {"message": f"the operator cannot go on: {problem}"})
    else:
        _failures.pop(key, None)


def _describe(exc: Exception) -> str:
    """One line: the API server's own message for its errors, else the exception."""
    try:
        return f"{exc.status}: {json.loads(exc.body)['message']}"  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, KeyError):
        return f"{type(exc).__name__}: {exc}"


MAX_RETRY_DELAY = 60.0
_failures: dict[tuple[str, str], float] = {}  # the wait before retrying a failed sync
_retries: dict[tuple[str, str], threading.Timer] = {}


def _sync(key, kjs, js, ps, deleted_pod) -> None:
    namespace, job_id = key
    with _lock(key):
        kj = _one(kjs, key)
        if kj is None:
            return  # deleted: owner references take the Job and pods with it
        # The index may lag our own writes; the status we last wrote is the freshest truth.
        kj = {**kj, "status": cluster.last_status(key, kj.get("status") or {})}
        attempt = attempt_number(kj)
        job = next(iter(_of_attempt(js, key, attempt)[-1:]), None)
        pod_list = _of_attempt(ps, key, attempt)
        shared = store_is_shared(kj["spec"]["store"], CONFIG.file_store_host_path)
        runtimes = cluster.read_runtimes() if needs_runtime_table(kj, job) else None
        lost = None
        if deleted_pod is not None and attempt_of(deleted_pod) == attempt:
            lost = vanished(deleted_pod, job)
        action = decide(kj, job, pod_list, store_shared=shared, runtimes=runtimes, lost=lost)
        _act(kj, job, action, attempt, runtimes)
        if action.wait_until:
            _wake_at(action.wait_until, key, (kjs, js, ps))
        if action.create_job:
            return  # the new Job's watch event re-syncs this job: one status write, not two
        if lost:  # the attempt's record takes its times and node from the vanished pod
            pod_list = [*pod_list, deleted_pod]
        progress = progress_server.latest(key)
        patch = status_patch(kj, job, pod_list, action, progress)
        if patch:
            cluster.patch_status(namespace, job_id, patch)
            if patch.get("previousAttempts"):
                last = patch["previousAttempts"][-1]
                log.info(
                    "job %s/%s: attempt %d failed (%s); the next at %s",
                    *(namespace, job_id, last["attempt"], last.get("reason"), patch["retryAt"]),
                )
            event = transition_event(kj.get("status") or {}, patch)
            if event:
                kopf.event(kj, type=event[0], reason=event[1], message=event[2])


_timers: dict[tuple[str, str], threading.Timer] = {}


def _wake_at(when: str, key: tuple[str, str], indexes: tuple) -> None:
    """Sync this job again when its scheduled start comes: one timer per waiting job."""
    with _locks_guard:
        if key in _timers and _timers[key].is_alive():
            return
        delay = max(0.0, (parse_time(when) - utcnow()).total_seconds()) + 0.05
        timer = threading.Timer(delay, sync, (*key, *indexes))
        timer.daemon = True
        _timers[key] = timer
        timer.start()


def _act(
    kj: dict, job: dict | None, action: Action, attempt: int, runtimes: RuntimeTable | None = None
) -> None:
    namespace, job_id = kj["metadata"]["namespace"], kj["metadata"]["name"]
    if action.create_job:
        body = build_job(kj, CONFIG, runtimes, attempt)
        if network := kj["spec"].get("network"):  # before the pods exist: never unprotected
            cluster.ensure_network_policy(build_network_policy(namespace, network))
        owner = body["metadata"]["ownerReferences"][0]
        if kj["spec"].get("secretEnv"):
            cluster.adopt_secret(namespace, secret_name(job_id), owner)
        if kj["spec"].get("ports"):  # before the Job, so its pods are reachable at once
            cluster.create_service(namespace, build_service(kj, owner))
        created = cluster.create_job(namespace, body)
        verb = "created" if created else "adopted"
        log.info("job %s/%s: %s the Job of attempt %d", namespace, job_id, verb, attempt)
    if action.delete_job and job is not None:
        cluster.delete_job(namespace, job["metadata"]["name"])
        why = action.lost or "cancel requested"
        log.info("job %s/%s: %s; deleted the Job of attempt %d", namespace, job_id, why, attempt)
