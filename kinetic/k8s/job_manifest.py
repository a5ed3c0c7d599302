"""The batch/v1 Job the operator creates for a KineticJob."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from kinetic.k8s.kineticjob import secret_name
from kinetic.k8s.kineticjob_body import KineticJob, KineticJobSpec
from kinetic.k8s.kueue import kueue_job_fields
from kinetic.k8s.names import (
    API_VERSION,
    CONTAINER,
    KIND,
    LABEL_ATTEMPT,
    LABEL_JOB_ID,
    LABEL_NETWORK,
    LABEL_SPOT,
    SELECTOR,
    STORE_VOLUME,
)
from kinetic.k8s.pod_volumes import env_cache_volume, pod_volumes
from kinetic.k8s.runtime_table import RuntimeTable
from kinetic.k8s.service_manifest import container_ports
from kinetic.spec.accelerators import LabelMap, k8s_scheduling, parse_accelerator
from kinetic.spec.job_spec import DEFAULT_ACCELERATOR, DEFAULT_GRACE_PERIOD
from kinetic.wire.dependency_ref import RESULTS_ENV

# The runner needs a moment after SIGTERM to record the outcome and flush logs.
RUNNER_SHUTDOWN_SECONDS = 10


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator is configured with (the Helm chart sets these env variables)."""

    default_image: str = "kinetic:latest"
    service_account: str | None = None
    accelerator_labels: dict[str, Any] = field(default_factory=dict)
    file_store_host_path: str | None = None
    # The chart's envCache: a node directory every job mounts for its environments.
    env_cache_host_path: str | None = None
    python: str = "python"
    # Where jobs push progress reports (the operator's Service); None: the store only.
    progress_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorConfig:
        env = dict(os.environ if env is None else env)
        labels = env.get("KINETIC_ACCELERATOR_LABELS")
        return cls(
            default_image=env.get("KINETIC_DEFAULT_IMAGE") or cls.default_image,
            service_account=env.get("KINETIC_JOB_SERVICE_ACCOUNT") or None,
            accelerator_labels=json.loads(labels) if labels else {},
            file_store_host_path=env.get("KINETIC_FILE_STORE_HOST_PATH") or None,
            env_cache_host_path=env.get("KINETIC_ENV_CACHE_HOST_PATH") or None,
            python=env.get("KINETIC_JOB_PYTHON") or cls.python,
            progress_url=env.get("KINETIC_PROGRESS_URL") or None,
        )


PROGRESS_AUDIENCE = "kinetic-progress"
PROGRESS_TOKEN_DIR = "/var/run/secrets/kinetic.dev/progress"
PROGRESS_TOKEN_FILE = f"{PROGRESS_TOKEN_DIR}/token"
PROGRESS_TOKEN_MOUNT = {"name": "kinetic-progress", "mountPath": PROGRESS_TOKEN_DIR,
                        "readOnly": True}  # fmt: skip


def progress_token_volume() -> dict[str, Any]:
    """A token of the pod's own ServiceAccount, bound to the pod and minted only for the
    operator's progress endpoint (kinetic/kinetic.job.progress_push): the operator learns from it
    which pod, and so which job, a report comes from. The kubelet renews it."""
    token = {"audience": PROGRESS_AUDIENCE, "expirationSeconds": 3600, "path": "token"}
    return {"name": "kinetic-progress", "projected": {"sources": [{"serviceAccountToken": token}]}}


def _runtime_image(spec: KineticJobSpec, runtimes: RuntimeTable | None) -> str | None:
    if not spec.get("runtime"):
        return None
    image = runtimes.image_of(spec["runtime"]) if runtimes else None
    if image is None:  # the operator refuses such a job before it builds one (decisions.py)
        raise ValueError(f"runtime {spec['runtime']!r} is not in the runtime table")
    return image


def file_store_path(store: str) -> str | None:
    """The directory of a file:// store, or None for other stores."""
    parsed = urlparse(store)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def store_is_shared(store: str, host_path: str | None) -> bool:
    """A file:// store reaches pods only inside the host path shared with the nodes."""
    path = file_store_path(store)
    if path is None:
        return True
    if not host_path:
        return False
    root = host_path.rstrip("/") or "/"
    return path == root or path.startswith(root.rstrip("/") + "/")


def job_name(job_id: str, attempt: int = 1) -> str:
    """The Job of one attempt: the job id itself for the first, ``{id}-a{n}`` after.
    (Client-made ids are at most 49 characters, so the suffix keeps it a valid name.)"""
    return job_id if attempt <= 1 else f"{job_id[: 63 - len(str(attempt)) - 2]}-a{attempt}"


def attempt_of(obj: dict[str, Any]) -> int:
    """Which attempt a Job or pod belongs to (objects from before retries carry no label)."""
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_ATTEMPT, "1")
    return int(value) if str(value).isdigit() else 1


def build_job(
    kj: KineticJob,
    config: OperatorConfig,
    runtimes: RuntimeTable | None = None,
    attempt: int = 1,
    dependency_results: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Job of one attempt, owned by its KineticJob, that runs the runner once: retries
    are the operator's (a new Job per attempt, see kinetic.model.retry_policy), never the Job's own.
    ``runtimes``: the cluster's runtime table, needed when the KineticJob names a runtime.
    ``dependency_results``: where the values of its dependencies are, with their digests
    (kinetic.wire.dependency_ref), as their KineticJobs vouch for them."""
    meta, spec = kj["metadata"], kj["spec"]
    job_id = meta["name"]
    labels = {**SELECTOR, LABEL_JOB_ID: job_id, LABEL_ATTEMPT: str(attempt)}
    scheduling = k8s_scheduling(
        parse_accelerator(spec.get("accelerator", DEFAULT_ACCELERATOR)),
        LabelMap.from_mapping(config.accelerator_labels),
        spot=bool(spec.get("spot")),
    )
    env: list[dict[str, Any]] = [
        {"name": e["name"], "value": e.get("value", "")} for e in spec.get("env", [])
    ]
    secret = secret_name(job_id)
    env += [
        {"name": n, "valueFrom": {"secretKeyRef": {"name": secret, "key": n}}}
        for n in spec.get("secretEnv", [])
    ]
    env.append({"name": "KINETIC_JOB_ID", "value": job_id})
    env.append({"name": "KINETIC_ATTEMPT", "value": str(attempt)})
    if dependency_results:
        env.append({"name": RESULTS_ENV, "value": json.dumps(dependency_results, sort_keys=True)})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.get("image") or _runtime_image(spec, runtimes) or config.default_image,
        "command": [
            config.python,
            "-m",
            "kinetic.job",
            "--store",
            spec["store"],
            job_id,
        ],
        "env": env,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.get("ports"):
        container["ports"] = container_ports(spec["ports"])
    resources = {k: dict(v) for k, v in (spec.get("resources") or {}).items()}
    if scheduling.limits:
        resources.setdefault("limits", {}).update(scheduling.limits)
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "terminationGracePeriodSeconds": int(spec.get("gracePeriodSeconds", DEFAULT_GRACE_PERIOD))
        + RUNNER_SHUTDOWN_SECONDS,
    }
    if config.service_account or config.progress_url:
        # Named even when it is the default one: a projected token needs the name (1.20).
        pod_spec["serviceAccountName"] = config.service_account or "default"
    if scheduling.node_selector:
        pod_spec["nodeSelector"] = dict(scheduling.node_selector)
    if scheduling.tolerations:
        pod_spec["tolerations"] = list(scheduling.tolerations)
    store_path = file_store_path(spec["store"])
    if store_path is not None and config.file_store_host_path:
        host = config.file_store_host_path
        pod_spec["volumes"] = [{"name": STORE_VOLUME, "hostPath": {"path": host}}]
        container["volumeMounts"] = [{"name": STORE_VOLUME, "mountPath": host}]
    volumes, mounts = pod_volumes(spec.get("volumes") or [])
    if config.progress_url:
        volumes, mounts = [*volumes, progress_token_volume()], [*mounts, PROGRESS_TOKEN_MOUNT]
        env += [
            {"name": "KINETIC_PROGRESS_URL", "value": config.progress_url},
            {"name": "KINETIC_PROGRESS_TOKEN_FILE", "value": PROGRESS_TOKEN_FILE},
        ]
    if config.env_cache_host_path:
        volume, mount, cache_env = env_cache_volume(config.env_cache_host_path, env)
        volumes, mounts = [*volumes, volume], [*mounts, mount]
        env += cache_env
    if volumes:
        pod_spec.setdefault("volumes", []).extend(volumes)
        container.setdefault("volumeMounts", []).extend(mounts)
    pod_labels = {**labels, LABEL_NETWORK: spec["network"]} if spec.get("network") else labels
    if spec.get("spot"):
        pod_labels = {**pod_labels, LABEL_SPOT: "true"}
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
    }
    kueue_labels, suspended = kueue_job_fields(spec)
    if suspended:  # Kueue admits it by unsuspending it (kinetic.k8s.kueue)
        job_spec["suspend"] = True
    if spec.get("timeoutSeconds"):
        job_spec["activeDeadlineSeconds"] = int(spec["timeoutSeconds"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(job_id, attempt),
            "namespace": meta.get("namespace"),
            "labels": {**labels, **kueue_labels},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": job_id,
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }
