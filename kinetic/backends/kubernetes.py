"""The kubernetes backend: a job is a KineticJob; the operator makes and watches its Job.

The client writes only to the store (handle, payload) and to KineticJobs (create, the
``spec.cancel`` field, delete). Everything it reports comes from the CR's status, which
the operator alone writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, cast

from kinetic.backends.backend_contract import Backend
from kinetic.backends.k8s_client import api_client, default_namespace
from kinetic.backends.k8s_refs import check_references, check_store_overlap
from kinetic.k8s.batch_items import as_queued, queued_again, unborn_state
from kinetic.k8s.job_manifest import store_is_shared
from kinetic.k8s.kineticbatch import item_kineticjob
from kinetic.k8s.kineticjob import (
    NOTIFY_URLS_FROM,
    build_kineticjob,
    build_secret,
    notify_carried,
    secret_name,
    with_workflow,
)
from kinetic.k8s.kineticjob_body import KineticJobSpec
from kinetic.k8s.names import (
    BATCH_PLURAL,
    GROUP,
    LABEL_BATCH,
    LABEL_BATCH_INDEX,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    PLURAL,
    VERSION,
)
from kinetic.k8s.service_manifest import service_name
from kinetic.model.endpoint import Endpoint
from kinetic.model.errors import BackendError, JobExistsError, JobNotFoundError, SpecError
from kinetic.model.job_record import JobRecord
from kinetic.model.retry_policy import attempt_record
from kinetic.model.status import JobState, JobStatus, format_time, parse_time, utcnow
from kinetic.spec import settings
from kinetic.spec.job_spec import DEFAULT_GRACE_PERIOD, JobSpec
from kinetic.store import layout, open_store
from kinetic.wire.framing import Framed, store_framed

PAGE_SIZE = 500


def _api_error(exc: Exception, what: str) -> Exception:
    status = getattr(exc, "status", None)
    if status == 403:
        hint = "your account lacks RBAC for kineticjobs (bind the chart's kinetic-user role)"
        return BackendError(f"{what}: forbidden — {hint}. {_reason(exc)}")
    if status == 404 and "the server could not find the requested resource" in str(exc):
        return BackendError(f"{what}: the KineticJob CRD is not installed (helm install kinetic)")
    return BackendError(f"{what}: {_reason(exc)}")


def _reason(exc: Exception) -> str:
    return f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', '')} {getattr(exc, 'body', '')}"


class KubernetesBackend(Backend):
    name = "kubernetes"
    # The operator copies the digest from the pod's termination message into the CR's
    # status, which a job's credentials cannot write.
    vouches_for_results = True

    # -- connection ---------------------------------------------------------------------------
    def _settings(self, extra: dict[str, Any]) -> tuple[str | None, str | None]:
        kubeconfig = extra.get("kubeconfig") or settings.resolve("kubeconfig").value
        context = extra.get("context") or settings.resolve("context").value
        return kubeconfig, context

    def _custom(self, handle: JobRecord):
        from kubernetes import client

        return client.CustomObjectsApi(api_client(*self._settings(handle.extra)))

    def handle_fields(self, spec: JobSpec) -> dict:
        kubeconfig, context = self._settings({})
        namespace = spec.namespace or default_namespace(kubeconfig, context)
        fields = {"namespace": namespace}
        if context:
            fields["context"] = context
        if kubeconfig:
            fields["kubeconfig"] = kubeconfig
        return fields

    def check_options(self, spec: JobSpec) -> None:
        if spec.cpu_cores:
            raise SpecError(
                "cpu_cores", spec.cpu_cores,
                "nothing on kubernetes (pods cannot pick cores); set cpu='2' instead",
            )  # fmt: skip

    def check(self, spec: JobSpec) -> None:
        self.check_options(spec)
        shared = settings.resolve("file_store_host_path").value
        if not store_is_shared(spec.store or "", shared):
            raise SpecError(
                "store",
                spec.store,
                "a gs:// store, or a file:// store under the host path shared with the "
                "cluster's nodes (set file_store_host_path to the chart's fileStore.hostPath; "
                f"now {shared or 'unset'}): pods cannot see this machine's disk",
            )
        check_store_overlap(spec, shared)
        if spec.runtime or spec.volumes:  # they name cluster objects: check that they exist
            namespace = self.handle_fields(spec)["namespace"]
            check_references(api_client(*self._settings({})), namespace, spec)

    # -- lifecycle ----------------------------------------------------------------------------
    def submit(self, handle: JobRecord, spec: JobSpec, payload: Framed) -> None:
        store = open_store(handle.store)
        store.write_bytes(
            layout.handle_key(handle.job_id), handle.to_json().encode(), if_absent=True
        )
        store_framed(store, layout.payload_key(handle.job_id), payload)
        body = build_kineticjob(
            handle.job_id,
            function=handle.function,
            store=handle.store,
            payload_sha256=handle.payload_sha256 or "",
            spec=spec.to_dict(),
        )
        if urls_from := handle.extra.get(NOTIFY_URLS_FROM):  # a retry: the operator copies them
            body["spec"]["notify"] = notify_carried(handle.spec, urls_from)
        if handle.workflow:  # a workflow's member: the last to end sends its summary
            with_workflow(body, handle.workflow)
        namespace = handle.extra["namespace"]
        if secrets := spec.runner_secrets():  # secret_env, and the notify URLs
            # First, so the pod never waits for it; the operator makes the KineticJob own it.
            self._create_secret(handle, build_secret(handle.job_id, secrets))
        try:
            self._custom(handle).create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body
            )
        except Exception as exc:
            if secrets:
                self._delete_secret(handle)
            if getattr(exc, "status", None) == 409:
                raise JobExistsError(f"a KineticJob named {handle.job_id} exists already") from None
            raise _api_error(exc, f"creating KineticJob {handle.job_id}") from None

    def core_api(self, handle: JobRecord):
        """The CoreV1Api for the cluster that holds ``handle``'s job."""
        from kubernetes import client

        return client.CoreV1Api(api_client(*self._settings(handle.extra)))

    def _create_secret(self, handle: JobRecord, body: dict) -> None:
        try:
            self.core_api(handle).create_namespaced_secret(handle.extra["namespace"], body)
        except Exception as exc:
            # Never echo the request: it holds the values.
            raise BackendError(
                f"creating Secret {secret_name(handle.job_id)} for secret_env: "
                f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', type(exc).__name__)}"
            ) from None

    def _delete_secret(self, handle: JobRecord) -> None:
        with contextlib.suppress(Exception):  # best effort: the job never started
            self.core_api(handle).delete_namespaced_secret(
                secret_name(handle.job_id), handle.extra["namespace"]
            )

    def _get(self, handle: JobRecord) -> dict | None:
        try:
            return self._custom(handle).get_namespaced_custom_object(
                GROUP, VERSION, handle.extra["namespace"], PLURAL, handle.job_id
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404 and "could not find the requested" not in str(
                exc
            ):
                return None
            raise _api_error(exc, f"reading KineticJob {handle.job_id}") from None

    def state(self, handle: JobRecord) -> JobState:
        kj = self._get(handle)
        if kj is None:
            if handle.batch:  # an item the operator has not created yet (or cleaned up)
                return unborn_state(self._batch(handle), int(handle.batch["index"]))
            return JobState(JobStatus.NOT_FOUND, message="no KineticJob (cleaned up?)")
        state = state_from_cr(kj)
        if state.progress is None:  # the job's latest report, from the store
            from kinetic.wire.progress_record import read_progress

            progress = read_progress(open_store(handle.store), handle.job_id)
            state = dataclasses.replace(state, progress=progress)
        return state

    def states(self, handles: list[JobRecord]) -> list[JobState]:
        """One paginated, label-selected list per namespace instead of a GET per job."""
        found: dict[tuple[str | None, str], dict[str, Any]] = {}
        for namespace in {h.extra.get("namespace") for h in handles}:
            sample = next(h for h in handles if h.extra.get("namespace") == namespace)
            for kj in self.list_kineticjobs(sample, namespace):
                found[(namespace, kj["metadata"]["name"])] = kj
        missing = JobState(JobStatus.NOT_FOUND, message="no KineticJob (cleaned up?)")
        batches: dict[tuple[str | None, str], dict[str, Any] | None] = {}  # one GET per batch
        states = []
        for h in handles:
            if cr := found.get((h.extra.get("namespace"), h.job_id)):
                states.append(state_from_cr(cr))
            elif h.batch:  # an item the operator has not created yet (or cleaned up)
                where = (h.extra.get("namespace"), str(h.batch["id"]))
                if where not in batches:
                    batches[where] = self._batch(h)
                states.append(unborn_state(batches[where], int(h.batch["index"])))
            else:
                states.append(missing)
        return states

    def _batch(self, item: JobRecord) -> dict[str, Any] | None:
        return self.read_kineticbatch(item, str((item.batch or {})["id"]))

    def read_kineticbatch(self, handle: JobRecord, batch_id: str) -> dict[str, Any] | None:
        """A batch's KineticBatch (kinetic.backends.k8s_batch); None once deleted."""
        try:
            found: dict[str, Any] = self._custom(handle).get_namespaced_custom_object(
                GROUP, VERSION, handle.extra["namespace"], BATCH_PLURAL, batch_id
            )
            return found
        except Exception as exc:
            if getattr(exc, "status", None) == 404 and "could not find the requested" not in str(
                exc
            ):
                return None
            raise _api_error(exc, f"reading KineticBatch {batch_id}") from None

    def list_jobs(
        self, *, store: str, namespace: str | None = None, all_namespaces: bool = False
    ) -> list[tuple[JobRecord, JobState]]:
        """The cluster's KineticJobs as (handle, state), newest first: a label-selected,
        paginated list in one namespace (default: the configured one) or in all."""
        fields = self.handle_fields(
            JobSpec(namespace=namespace or settings.resolve("namespace").value)
        )
        probe = JobRecord("probe", self.name, "", "", "", extra=fields)
        kjs = self.list_kineticjobs(probe, None if all_namespaces else fields["namespace"])
        rows = [(record_from_cr(kj, fields), state_from_cr(kj)) for kj in kjs]
        rows.sort(key=lambda row: row[0].created, reverse=True)
        return rows

    def list_kineticjobs(self, handle: JobRecord, namespace: str | None) -> list[dict]:
        api, token, items = self._custom(handle), None, []
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        while True:
            kwargs = {"label_selector": selector, "limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            try:
                if namespace:
                    page = api.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, **kwargs
                    )
                else:
                    page = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
            except Exception as exc:
                raise _api_error(exc, "listing KineticJobs") from None
            items += page.get("items", [])
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items

    def cancel(
        self, handle: JobRecord, *, wait: bool = True, timeout: float | None = None
    ) -> JobState:
        state = self.state(handle)
        if state.status == JobStatus.NOT_FOUND:
            raise JobNotFoundError(handle.job_id, f"namespace {handle.extra.get('namespace')}")
        if state.status.is_terminal:
            return state
        patch = {"spec": {"cancel": True, "cancelRequestedAt": format_time(utcnow())}}
        try:
            self._custom(handle).patch_namespaced_custom_object(
                GROUP, VERSION, handle.extra["namespace"], PLURAL, handle.job_id, patch
            )
        except Exception as exc:
            if not (getattr(exc, "status", None) == 404 and handle.batch):
                raise _api_error(exc, f"cancelling KineticJob {handle.job_id}") from None
            self._cancel_unborn(handle, patch)
        if not wait:
            return self.state(handle)
        # Pods get the grace period plus the runner's shutdown time, then must be deleted.
        return self.wait_stopped(handle, timeout, slack=60.0, poll=0.25)

    def _cancel_unborn(self, item: JobRecord, patch: dict[str, Any]) -> None:
        """Cancel a batch's item the operator has not created yet: create it, from its
        batch's template, already cancelled, so it ends CANCELLED without running and the
        operator's create finds it there (a 409, which it takes as done)."""
        batch = self._batch(item)
        if batch is None:
            raise JobNotFoundError(item.job_id, "its KineticBatch is gone (cleaned up?)")
        body = item_kineticjob(batch, int((item.batch or {})["index"]))
        body["spec"] = cast(KineticJobSpec, {**body["spec"], **patch["spec"]})
        api = self._custom(item)
        try:
            api.create_namespaced_custom_object(GROUP, VERSION, item.extra["namespace"], PLURAL,
                                                body)  # fmt: skip
        except Exception as exc:
            if getattr(exc, "status", None) != 409:
                raise _api_error(exc, f"cancelling {item.job_id} (not created yet)") from None
            try:  # the operator created it meanwhile: cancel that one
                api.patch_namespaced_custom_object(GROUP, VERSION, item.extra["namespace"],
                                                   PLURAL, item.job_id, patch)  # fmt: skip
            except Exception as again:
                raise _api_error(again, f"cancelling KineticJob {item.job_id}") from None

    def endpoints(self, handle: JobRecord) -> dict[str, Endpoint]:
        """The job's Service: its in-cluster DNS name, and its ClusterIP once it exists."""
        ports = handle.spec.get("ports") or []
        if not ports:
            return {}
        namespace, name = handle.extra["namespace"], service_name(handle.job_id)
        cluster_ip = None
        try:
            cluster_ip = (
                self.core_api(handle).read_namespaced_service(name, namespace).spec.cluster_ip
            )
        except Exception as exc:
            if getattr(exc, "status", None) != 404:  # 404: the operator has not made it yet
                raise _api_error(exc, f"reading Service {name}") from None
        host = f"{name}.{namespace}.svc"
        return {p["name"]: Endpoint(host, p["port"], p["proto"], cluster_ip) for p in ports}

    def release(self, handle: JobRecord) -> None:
        """Delete the KineticJob; the garbage collector removes its Job and pods."""
        try:
            self._custom(handle).delete_namespaced_custom_object(
                GROUP, VERSION, handle.extra["namespace"], PLURAL, handle.job_id,
                propagation_policy="Background",
            )  # fmt: skip
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise _api_error(exc, f"deleting KineticJob {handle.job_id}") from None


def record_from_cr(kj: dict, fields: dict[str, Any]) -> JobRecord:
    """A handle rebuilt from a KineticJob: enough for status, logs, result and control."""
    meta, spec = kj["metadata"], kj.get("spec") or {}
    return JobRecord(
        job_id=meta["name"],
        backend="kubernetes",
        store=spec.get("store", ""),
        function=spec.get("function", ""),
        created=meta.get("creationTimestamp", ""),
        spec={
            "grace_period": spec.get("gracePeriodSeconds", DEFAULT_GRACE_PERIOD),
            "ports": spec.get("ports", []),
        },
        payload_sha256=spec.get("payloadSha256"),
        extra={**fields, "namespace": meta.get("namespace")},
        batch=batch_of(meta.get("labels") or {}),
    )


def batch_of(labels: dict[str, str]) -> dict[str, Any] | None:
    """A batch item's ``{"id", "index"}`` from its KineticJob's labels (pure)."""
    batch_id, index = labels.get(LABEL_BATCH), labels.get(LABEL_BATCH_INDEX, "")
    return {"id": batch_id, "index": int(index)} if batch_id and index.isdigit() else None


def state_from_cr(kj: dict) -> JobState:
    status = kj.get("status") or {}
    extra: dict[str, Any] = {}
    if status.get("result"):
        extra["result"] = status["result"]
    if status.get("podName"):
        extra["pod"] = status["podName"]
    if status.get("notifications"):
        extra["notifications"] = status["notifications"]
    if status.get("workflowSummary"):  # this member sent its workflow's summary
        extra["workflow_summary"] = status["workflowSummary"]
    if status.get("resources"):  # the runner's record of what the job used
        extra["resources"] = status["resources"]
    state = JobState(
        JobStatus(status.get("phase") or JobStatus.PENDING.value),
        reason=status.get("reason"),
        message=status.get("message"),
        created=parse_time(kj["metadata"].get("creationTimestamp")),
        started=parse_time(status.get("startTime")),
        finished=parse_time(status.get("completionTime")),
        attempts=int(status.get("attempts") or 0),
        previous_attempts=[_attempt_from_cr(r) for r in status.get("previousAttempts") or []],
        exit_code=status.get("exitCode"),
        progress=status.get("progress"),
        node=status.get("nodeName"),
        extra=extra,
    )
    return as_queued(state) if queued_again(kj) else state  # a batch's retry_failed()


def _attempt_from_cr(record: dict[str, Any]) -> dict[str, Any]:
    """An earlier attempt as the CR keeps it (camelCase) → as JobState keeps it."""
    return attempt_record(
        int(record.get("attempt") or 0),
        reason=record.get("reason"),
        message=record.get("message"),
        started=record.get("startTime"),
        finished=record.get("completionTime"),
        node=record.get("nodeName"),
        exit_code=record.get("exitCode"),
    )
