"""The operator's work: bring one job's objects and status in line with what exists.

Where it sits: kopf's watches call the handlers (handlers.py), which call
``Controller.sync`` for the job an event concerns; so do the job's timers (a scheduled
start, a retry's backoff, a failed sync tried again) and the progress endpoint
(progress_server.py) when a report comes. ``sync`` reads the job's KineticJob, Jobs and
pods from kopf's indexes, asks the pure functions of decisions.py what to do, and does it
through ``Cluster`` (cluster.py). Every decision is recomputed from what exists, so a
restarted operator adopts existing Jobs and loses nothing; what a sync must remember for
the next one is the job's ``JobState`` (state.py), released when the job is deleted.

One Controller per operator process, made by the startup handler from ``Settings``
(operator_settings.py); it also runs the heartbeat (heartbeat.py), the progress endpoint and the
trimming of memory that deleted jobs freed (memory.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import kopf

from kinetic.k8s.batch_items import queued_again
from kinetic.k8s.job_manifest import attempt_of, build_job, job_name, store_is_shared
from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.kineticjob_body import KineticJob
from kinetic.k8s.kueue import queue_of
from kinetic.k8s.kueue_workload import KueueView, kueue_view
from kinetic.k8s.pod_volumes import build_network_policy
from kinetic.k8s.runtime_table import RuntimeTable
from kinetic.k8s.service_manifest import build_service
from kinetic.model.reasons import Reason
from kinetic.model.status import format_time, parse_time, utcnow
from kinetic_operator import heartbeat, notifier
from kinetic_operator.cluster import Cluster, api_error_text, connect
from kinetic_operator.decisions import (
    TERMINAL,
    Action,
    attempt_number,
    decide,
    needs_runtime_table,
    status_patch,
    transition_event,
)
from kinetic_operator.deferred_calls import DeferredCall, DeferredCalls
from kinetic_operator.dependency_gate import dependency_verdict
from kinetic_operator.end_messages import EndMessages
from kinetic_operator.indexes import Indexes, latest, of_attempt
from kinetic_operator.item_restart import restart_patch
from kinetic_operator.kueue_status import is_suspended
from kinetic_operator.memory import Trimmer
from kinetic_operator.operator_settings import Settings
from kinetic_operator.pod_status import disrupted_end, vanished
from kinetic_operator.progress_server import PodRef, ProgressEndpoint, api_review
from kinetic_operator.state import JobRegistry, JobState, Key
from kinetic_operator.status_settle import settle_delay

log = logging.getLogger("kinetic.operator")
KUEUE_POLL = 15.0  # seconds between two reads of a queued Job's Kueue Workload


class Controller:
    """Syncs jobs for one operator process; ``jobs`` holds what it remembers per job."""

    def __init__(
        self,
        settings: Settings,
        cluster: Cluster,
        indexes: Indexes,
        jobs: JobRegistry | None = None,
    ) -> None:
        self.settings, self.cluster, self.indexes = settings, cluster, indexes
        self.jobs = jobs if jobs is not None else JobRegistry()
        self.trimmer = Trimmer(settings.memory_trim_delay)
        self.deferred = DeferredCalls()  # status writes put off while a job settles
        self.heartbeat: heartbeat.Heartbeat | None = None
        self.endpoint: ProgressEndpoint | None = None
        self._context: contextvars.Context | None = None
        self.end_messages = EndMessages(cluster, self.jobs, indexes.kineticjobs, self._write_status)

    @classmethod
    def start(cls, settings: Settings, indexes: Indexes) -> Controller:
        """Connect, start the heartbeat and (when configured) the progress endpoint."""
        api = connect()
        controller = cls(settings, Cluster(api, settings.namespace), indexes)
        try:
            controller.heartbeat = heartbeat.start(api, settings.namespace, settings.served)
            if settings.progress_listen:
                endpoint = ProgressEndpoint(api_review(api), controller.pod_ref, controller.report)
                endpoint.serve(settings.progress_listen)
                controller.endpoint = endpoint
        except BaseException:  # kopf tries a failed startup handler again: start afresh
            controller.stop()
            raise
        return controller

    def stop(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.endpoint is not None:
            self.endpoint.stop()
        self.jobs.close()
        self.deferred.stop()
        self.trimmer.stop()

    # -- what the watches report (handlers.py) --------------------------------------------------
    def in_handler(self) -> Controller:
        """Called from kopf's handlers: keep their context, in which ``kopf.event`` works, for
        the syncs that timers and the progress endpoint run on threads of their own."""
        if self._context is None:
            self._context = contextvars.copy_context()
        return self

    def job_deleted(self, key: Key, uid: str | None) -> None:
        """The KineticJob is gone (owner references take its Jobs and pods): forget it."""
        self.jobs.release(key, uid)
        self.trimmer.soon()

    def pod_deleted(self, uid: str) -> None:
        if self.endpoint is not None:
            self.endpoint.forget_pod(uid)
        self.trimmer.soon()  # the last of a job to go: kopf has just dropped it too

    def requeue(self, namespace: str, job_id: str) -> bool:
        """A batch's item queued again by retry_failed(): start its next attempt (the
        batch driver calls this when a slot frees). False if it is not queued (any more)."""
        with self.jobs.hold((namespace, job_id)) as state:
            found = latest(self.indexes.kineticjobs, state.key)
            if found is None:
                return False
            kj = cast(KineticJob, {**found, "status": {**(found.get("status") or {}),
                                                        **state.written}})  # fmt: skip
            if not queued_again(kj):
                return False
            self._write_status(state, restart_patch(kj))
        log.info("job %s/%s: queued again by retry_failed(), started again", namespace, job_id)
        return True

    def created(self, namespace: str, kj: dict) -> None:
        """A KineticJob this process has just created (a batch's item, batch_driver.py), as
        the API server answered: sync it now, so its Job is made without waiting for the
        watch to show it (its watch event then finds the Job made). Never raises."""
        name = (kj.get("metadata") or {}).get("name")
        if self._context is None:
            self.sync(namespace, name, fresh=kj)
        else:  # on the batch driver's threads: in kopf's context, where Events can be posted
            self._context.copy().run(self.sync, namespace, name, None, kj)

    # -- progress reports (progress_server.py) ----------------------------------------------------
    def pod_ref(self, uid: str) -> PodRef | None:
        found = list(self.indexes.pod_refs.get(uid, []))
        return found[-1] if found else None

    def report(self, key: Key, report: dict[str, Any]) -> None:
        """Keep the job's latest report; write it now, or once ``progress_write_interval``
        has passed since the last write (a write already coming takes the latest)."""
        with self.jobs.hold(key) as state:
            state.progress = report
            if state.progress_write is None:
                wait = state.progress_written_at + self.settings.progress_write_interval
                state.progress_write = self._later(
                    max(0.0, wait - time.monotonic()), self._write_progress, key
                )

    def _write_progress(self, key: Key) -> None:
        with self.jobs.hold(key) as state:
            state.progress_write = None
            state.progress_written_at = time.monotonic()
        self.sync(*key)

    # -- the sync ---------------------------------------------------------------------------------
    def sync(
        self,
        namespace: str,
        job_id: str | None,
        deleted_pod: dict | None = None,
        fresh: dict | None = None,
    ) -> None:
        """Bring one job's objects and status in line with what exists; ``deleted_pod`` is a
        pod of it whose deletion the watch just reported; ``fresh``, its KineticJob just
        created, for when the index does not show it yet. Never raises: a failure is said
        in the KineticJob and the sync tried again."""
        if not job_id:
            return
        with self.jobs.hold((namespace, job_id)) as state:
            try:
                self._sync(state, deleted_pod, fresh)
                self.end_messages.after_sync(state)
            except Exception as exc:
                self._failed(state, exc, deleted_pod)
            else:
                state.failure_delay = None
        self._wake_dependents(namespace, job_id)

    def _wake_dependents(self, namespace: str, job_id: str) -> None:
        """A job that has ended may let its dependents start (or end them): sync them. Its
        KineticJob as the index shows it, which is what their syncs will read."""
        kj = latest(self.indexes.kineticjobs, (namespace, job_id))
        if kj is None or (kj.get("status") or {}).get("phase") not in TERMINAL:
            return
        self._sync_held(namespace, job_id)

    def batch_changed(self, namespace: str, batch_id: str) -> None:
        """A KineticBatch changed (handlers.py): once it has ended, the jobs that wait for
        the whole batch may start (or end)."""
        batch = latest(self.indexes.batches, (namespace, batch_id))
        if batch is not None and (batch.get("status") or {}).get("phase") in TERMINAL:
            self._sync_held(namespace, batch_id)

    def _sync_held(self, namespace: str, job_id: str) -> None:
        """Sync the dependents of ``job_id`` (a job or a batch) still held for it."""
        for dependent in sorted(set(self.indexes.dependents.get((namespace, job_id), []))):
            status = (latest(self.indexes.kineticjobs, (namespace, dependent)) or {}).get("status")
            if not (status or {}).get("jobName") and (status or {}).get("phase") not in TERMINAL:
                self._later(0.0, self.sync, namespace, dependent)  # still held: decide now

    def _failed(self, state: JobState, exc: Exception, deleted_pod: dict | None) -> None:
        # Event handlers are not retried by kopf, and the next event may be far off: a
        # failed write (API server busy or unreachable, a webhook, a quota, RBAC being
        # fixed) is tried again soon, and again later while it keeps failing.
        delay = min((state.failure_delay or 0.5) * 2, self.settings.max_retry_delay)
        state.failure_delay = delay
        if not _pending(state.retry):  # one retry waiting per job
            state.retry = self._later(delay, self.sync, *state.key, deleted_pod)
        problem = f"{api_error_text(exc)}; trying again within {delay:.0f} s"
        log.warning("job %s/%s: %s", *state.key, problem)
        with contextlib.suppress(Exception):  # say it where users look, if we can
            self._write_status(state, {"message": f"the operator cannot go on: {problem}"})

    def _sync(self, state: JobState, deleted_pod: dict | None, fresh: dict | None = None) -> None:
        key = state.key
        found = latest(self.indexes.kineticjobs, key) or fresh
        if found is None:  # deleted: owner references take the Job and pods with it
            self.jobs.discard(state)
            return
        state.adopt((found.get("metadata") or {}).get("uid"))
        # The index may lag our own writes; the status we last wrote is the freshest truth.
        kj = cast(KineticJob, {**found, "status": {**(found.get("status") or {}), **state.written}})
        attempt = attempt_number(kj)
        job = next(iter(of_attempt(self.indexes.jobs, key, attempt)[-1:]), None)
        pod_list = of_attempt(self.indexes.pods, key, attempt)
        shared = store_is_shared(kj["spec"]["store"], self.settings.jobs.file_store_host_path)
        runtimes = self.cluster.read_runtimes() if needs_runtime_table(kj, job) else None
        lost, lost_reason = None, str(Reason.LOST)
        if deleted_pod is not None and attempt_of(deleted_pod) == attempt:
            lost = vanished(deleted_pod, job)
            if lost is None and (ended := disrupted_end(deleted_pod, job)) is not None:
                lost_reason, lost = ended[0], ended[1] or ended[0]
        verdict = None
        if job is None and not (kj.get("status") or {}).get("jobName"):
            verdict = dependency_verdict(
                kj, lambda name: latest(self.indexes.kineticjobs, (key[0], name)),
                lookup_batch=lambda name: latest(self.indexes.batches, (key[0], name)),
            )  # fmt: skip
        unseen = job is None and job_name(key[1], attempt) in state.created
        action = decide(kj, job, pod_list, store_shared=shared, runtimes=runtimes, lost=lost,
                        lost_reason=lost_reason, dependencies=verdict,
                        created_unseen=unseen)  # fmt: skip
        self._act(state, kj, job, action, attempt, runtimes)
        if action.wait_until:
            self._wake_at(state, action.wait_until)
        if action.create_job:
            return  # the new Job's watch event re-syncs this job: one status write, not two
        if lost and deleted_pod is not None:  # its times and node go in the attempt's record
            pod_list = [*pod_list, deleted_pod]
        kueue = self._kueue(state, job)  # a Job waiting in a Kueue queue: Kueue's word
        patch = status_patch(kj, job, pod_list, action, state.progress, kueue)
        if not patch:
            return
        since = time.monotonic() - max(state.status_written_at, state.job_created_at)
        previous = kj.get("status") or {}
        delay = settle_delay(previous, patch, since, self.settings.status_settle_interval)
        if delay > 0:  # the job's next sync then writes this and whatever came meanwhile
            if state.settle is None or not state.settle.pending:
                state.settle = self._defer(delay, self.sync, *key)
            return
        self._write_status(state, patch)
        if patch.get("previousAttempts"):
            last = patch["previousAttempts"][-1]
            log.info(
                "job %s/%s: attempt %d failed (%s); the next at %s",
                *(*key, last["attempt"], last.get("reason"), patch["retryAt"]),
            )
        event = transition_event(kj.get("status") or {}, patch)
        if event:
            kopf.event(found, type=event[0], reason=event[1], message=event[2])

    def _act(
        self,
        state: JobState,
        kj: KineticJob,
        job: dict | None,
        action: Action,
        attempt: int,
        runtimes: RuntimeTable | None,
    ) -> None:
        namespace, job_id = state.key
        if action.create_job:
            body = build_job(kj, self.settings.jobs, runtimes, attempt,
                             action.dependency_results)  # fmt: skip
            if network := kj["spec"].get("network"):  # before the pods exist: never unprotected
                self.cluster.ensure_network_policy(build_network_policy(namespace, network))
            owner = body["metadata"]["ownerReferences"][0]
            if (kj["spec"].get("notify") or {}).get("urlsFrom"):  # a retry: its notify URLs
                notifier.carry_urls(self.cluster, dict(kj))
            if kj["spec"].get("secretEnv") or kj["spec"].get("notify"):
                self.cluster.adopt_secret(namespace, secret_name(job_id), owner)
            if kj["spec"].get("ports"):  # before the Job, so its pods are reachable at once
                self.cluster.create_service(namespace, build_service(kj, owner))
            name = body["metadata"]["name"]
            if name not in state.created:  # else created, and its watch event not here yet
                created = self.cluster.create_job(namespace, body)
                # Remembered only once the API server has answered: after a failure of any
                # kind (a connection reset before or after the request reached it) the
                # retry creates the Job, or finds it (409).
                state.created.add(name)
                state.job_created_at = time.monotonic()  # its first status write settles
                verb = "created" if created else "adopted"
                log.info("job %s/%s: %s the Job of attempt %d", namespace, job_id, verb, attempt)
        if action.delete_job:  # the Job seen, or one created here the index lags behind
            name = job["metadata"]["name"] if job is not None else job_name(job_id, attempt)
            self.cluster.delete_job(namespace, name)
            why = action.lost or "cancel requested"
            log.info(
                "job %s/%s: %s; deleted the Job of attempt %d", namespace, job_id, why, attempt
            )

    def _write_status(self, state: JobState, patch: dict[str, Any]) -> None:
        self.cluster.patch_status(*state.key, patch)
        state.written.update(patch)
        state.status_written_at = time.monotonic()

    def _kueue(self, state: JobState, job: dict | None) -> KueueView | None:
        """What Kueue says of a suspended Job in its queue: its Workload's message and its
        position (kinetic.k8s.kueue_workload); read again every KUEUE_POLL seconds while
        it waits (Kueue changes its Workload, not the Job: no watch event comes)."""
        queue = queue_of(job)
        uid = ((job or {}).get("metadata") or {}).get("uid")
        if job is None or not queue or not uid or not is_suspended(job):
            return None
        try:
            workloads = self.cluster.list_workloads(state.key[0], uid)
            pending = self.cluster.pending_workloads(state.key[0], queue) if workloads else None
        except Exception as exc:  # the API server's hiccup: the Job's own word this time
            log.debug("job %s/%s: cannot read its Kueue workload: %s", *state.key, exc)
            workloads, pending = None, None
        self._wake_at(state, format_time(utcnow() + timedelta(seconds=KUEUE_POLL)))
        return kueue_view(workloads, pending, uid) if workloads is not None else None

    def _wake_at(self, state: JobState, when: str) -> None:
        """Sync this job again when its scheduled start comes: one timer per waiting job."""
        at = parse_time(when)
        if _pending(state.wake) or at is None:
            return
        delay = max(0.0, (at - utcnow()).total_seconds()) + 0.05
        state.wake = self._later(delay, self.sync, *state.key)

    def _defer(self, delay: float, fn: Callable[..., None], *args: Any) -> DeferredCall:
        """As ``_later``, on the shared deferred-call threads (a burst of jobs makes no
        burst of threads), in the context of kopf's handlers."""
        context = self._context
        if context is None:
            return self.deferred.call_later(delay, fn, *args)
        return self.deferred.call_later(delay, lambda: context.copy().run(fn, *args))

    def _later(self, delay: float, fn: Callable[..., None], *args: Any) -> threading.Timer:
        """Run ``fn(*args)`` on a thread of its own after ``delay`` seconds, in the context
        of kopf's handlers (kept by ``in_handler``) so that it may post Events."""
        context = self._context

        def run() -> None:
            if context is None:
                fn(*args)
            else:
                context.copy().run(fn, *args)

        timer = threading.Timer(delay, run)
        timer.daemon = True
        timer.start()
        return timer


def _pending(timer: threading.Timer | None) -> bool:
    """Whether ``timer`` is still to fire (the timer now running this code has fired)."""
    return timer is not None and timer.is_alive() and timer is not threading.current_thread()
