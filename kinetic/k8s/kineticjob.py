"""The KineticJob custom resource a client creates for a job (never a secret in it)."""

from __future__ import annotations

from typing import Any

from kinetic.k8s.kineticjob_body import KineticJob, KineticJobSpec, NotifySpec, WorkflowSpec
from kinetic.k8s.names import API_VERSION, KIND, LABEL_JOB_ID, LABEL_WORKFLOW, SELECTOR
from kinetic.k8s.pod_resources import k8s_resources
from kinetic.k8s.pod_volumes import cr_volumes
from kinetic.model.retry_policy import DEFAULT_BACKOFF
from kinetic.model.spec_record import SpecRecord
from kinetic.spec.job_spec import DEFAULT_ACCELERATOR, DEFAULT_GRACE_PERIOD


def build_kineticjob(
    job_id: str,
    *,
    function: str,
    store: str,
    payload_sha256: str,
    spec: SpecRecord,
) -> KineticJob:
    """The KineticJob for a job, from its stored JobSpec (kinetic.spec.JobSpec.to_dict)."""
    body: KineticJobSpec = {
        "function": function,
        "store": store,
        "payloadSha256": payload_sha256,
        "accelerator": spec.get("accelerator", DEFAULT_ACCELERATOR),
        "gracePeriodSeconds": int(spec.get("grace_period", DEFAULT_GRACE_PERIOD)),
    }
    if spec.get("spot"):
        body["spot"] = True
    if image := spec.get("image"):
        body["image"] = image
    if timeout := spec.get("timeout"):
        body["timeoutSeconds"] = max(1, round(timeout))
    if resources := k8s_resources(spec):
        body["resources"] = resources
    if start_at := spec.get("start_at"):
        body["startAt"] = start_at
    if depends_on := spec.get("depends_on"):
        body["dependsOn"] = list(depends_on)
    if spec.get("retries"):
        body["retries"] = int(spec["retries"])
        body["retryBackoffSeconds"] = float(spec.get("retry_backoff", DEFAULT_BACKOFF))
        body["retryOnError"] = bool(spec.get("retry_on_error", False))
    if spec.get("secret_env_names"):
        body["secretEnv"] = list(spec["secret_env_names"])
    if spec.get("ports"):
        body["ports"] = [p.copy() for p in spec["ports"]]
    if spec.get("ssh"):
        body["ssh"] = True
    if spec.get("env"):
        body["env"] = [{"name": k, "value": v} for k, v in sorted(spec["env"].items())]
    if runtime := spec.get("runtime"):
        body["runtime"] = runtime
    if spec.get("volumes"):
        body["volumes"] = cr_volumes(spec["volumes"])
    if network := spec.get("network"):
        body["network"] = network
    if queue := spec.get("queue"):  # Kueue (kinetic.k8s.kueue)
        body["queue"] = queue
        if priority := spec.get("priority_class"):
            body["priorityClass"] = priority
    if hosts := spec.get("notify_hosts"):  # the URLs are in the Secret (build_secret)
        body["notify"] = {"hosts": list(hosts)}
        if notify_on := spec.get("notify_on"):
            body["notify"]["on"] = list(notify_on)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": job_id, "labels": {**SELECTOR, LABEL_JOB_ID: job_id}},
        "spec": body,
    }


def with_workflow(body: KineticJob, membership: dict[str, Any]) -> None:
    """A workflow's member (``JobRecord.workflow``): its membership in ``spec.workflow``
    and the label ``kinetic.dev/workflow=ID`` (its fellows found by one selector)."""
    workflow: WorkflowSpec = {
        "id": str(membership["id"]),
        "name": str(membership.get("name") or membership["id"]),
        "generation": int(membership.get("generation") or 0),
        "members": {str(k): str(v) for k, v in (membership.get("members") or {}).items()},
        "summary": bool(membership.get("summary")),
    }
    if membership.get("started"):
        workflow["started"] = str(membership["started"])
    body["spec"]["workflow"] = workflow
    body["metadata"].setdefault("labels", {})[LABEL_WORKFLOW] = workflow["id"]


# A retry's handle.json ``extra`` key naming the job whose Secret holds its notify URLs
# (kinetic.client.notify_carry): its KineticJob's ``spec.notify.urlsFrom``.
NOTIFY_URLS_FROM = "notify_urls_from"


def notify_carried(spec: SpecRecord, urls_from: str) -> NotifySpec:
    """A retry's ``spec.notify``: the original's hosts, the job whose Secret the operator
    copies the URLs from (the client never reads them)."""
    notify: NotifySpec = {"hosts": list(spec.get("notify_hosts") or []), "urlsFrom": urls_from}
    if notify_on := spec.get("notify_on"):
        notify["on"] = list(notify_on)
    return notify


def secret_name(job_id: str) -> str:
    return f"{job_id}-env"


def build_secret(job_id: str, values: dict[str, str]) -> dict[str, Any]:
    """The Secret holding a job's secret_env (and its notify URLs, under a key no variable
    can be named: kinetic.spec.notify_options); the operator makes its KineticJob own it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": secret_name(job_id), "labels": {**SELECTOR, LABEL_JOB_ID: job_id}},
        "stringData": dict(values),
    }
