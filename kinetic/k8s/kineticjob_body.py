"""The KineticJob's raw body, typed: what ``spec`` and ``status`` hold on the server.

Where it sits: the client builds a KineticJob's ``spec`` (kineticjob.py); the operator
reads it from its watch and writes ``status`` (operator/kinetic_operator); the Kubernetes
backend reads both back. They share these ``TypedDict``s — the shape of the CRD
(charts/kinetic/crds/kineticjobs.yaml) in Python — so every key a side reads or writes is
checked by mypy against the one definition. Like kopf's raw bodies they are views of plain
JSON, not classes: an object written by an older Kinetic lacks newer keys and still reads.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from kinetic.model.retry_policy import DEFAULT_BACKOFF, RetryPolicy
from kinetic.model.spec_record import PortRecord


class EnvVar(TypedDict):
    name: str
    value: NotRequired[str]


class ResultRef(TypedDict, total=False):
    uri: str
    size: int
    sha256: str


class NotifySpec(TypedDict, total=False):
    hosts: list[str]
    on: list[str]
    urlsFrom: str  # a retry: the job whose Secret holds the URLs (the operator copies them)


class WorkflowSpec(TypedDict, total=False):
    """A workflow's member (kinetic.client.workflow_run): the last to end sends the
    workflow's one summary (the operator's workflow_notifier), none of its own."""

    id: str
    name: str
    generation: int
    members: dict[str, str]  # job name -> job id, every member of this generation
    started: str
    summary: bool


class WorkflowSummaryStatus(TypedDict, total=False):
    """The workflow's summary, on the member whose end sent it: claimed, then delivered."""

    generation: int
    status: str
    notifications: list[dict[str, Any]]  # kinetic.wire.notification.Delivery


class KineticJobSpec(TypedDict, total=False):
    """``spec``: what the caller asked for (immutable after creation, but ``cancel``)."""

    function: str
    store: str
    payloadSha256: str
    accelerator: str
    spot: bool
    image: str
    timeoutSeconds: int
    gracePeriodSeconds: int
    env: list[EnvVar]
    startAt: str
    dependsOn: list[str]  # job ids (KineticJobs of this namespace) to wait for
    secretEnv: list[str]  # names: the values are in the job's Secret
    ports: list[PortRecord]
    ssh: bool
    cancel: bool
    cancelRequestedAt: str
    resources: dict[str, dict[str, str]]  # {"requests": {...}, "limits": {...}}
    retries: int
    retryBackoffSeconds: float
    retryOnError: bool
    runtime: str
    volumes: list[dict[str, Any]]  # kinetic.k8s.pod_volumes.cr_volumes()
    network: str
    labels: dict[str, str]
    queue: str  # Kueue's LocalQueue: the Job is created suspended (kinetic.k8s.kueue)
    priorityClass: str
    notify: NotifySpec  # hosts only: the URLs are in the job's Secret
    workflow: WorkflowSpec  # a workflow's member (its notify is the workflow's summary's)


class KineticJobStatus(TypedDict, total=False):
    """``status``: what the operator derived (the status subresource)."""

    phase: str
    reason: str
    message: str
    startTime: str
    completionTime: str
    previousAttempts: list[dict[str, Any]]
    retryAt: str
    attempts: int
    podName: str
    nodeName: str
    exitCode: int
    progress: dict[str, Any]
    progressText: str
    result: ResultRef
    resources: dict[str, Any]  # the runner's: peak_memory_bytes, cpu_seconds, peak_memory_of
    observedGeneration: int
    jobName: str
    notifications: list[dict[str, Any]]  # notify=: kinetic.wire.notification.Delivery
    workflowSummary: WorkflowSummaryStatus  # the member that sent its workflow's summary


class KineticJob(TypedDict, total=False):
    """A whole KineticJob as the API server returns it."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: KineticJobSpec
    status: KineticJobStatus


def retry_policy_of(spec: KineticJobSpec) -> RetryPolicy:
    """The retry budgets a KineticJob asks for (its defaults are the JobSpec's)."""
    return RetryPolicy(
        retries=int(spec.get("retries") or 0),
        backoff=float(spec.get("retryBackoffSeconds", DEFAULT_BACKOFF)),
        on_error=bool(spec.get("retryOnError", False)),
    )
