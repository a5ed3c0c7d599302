"""SpecRecord: a job's options as they are stored — the typed shape of ``JobSpec.to_dict()``.

Where it sits: the caller validates options once, into a ``JobSpec`` (kinetic/spec); from
then on the options travel as JSON — in ``handle.json`` (``JobRecord.spec``), in the
runner's hands, in the backends' checks. Readers of that JSON (the runner, the backends,
the retry policy, the KineticJob builder) annotate it with this ``TypedDict`` rather than
``dict[str, Any]``, so mypy checks every key they read and the type of what they get: a
misspelled option or a value used as the wrong type fails the type check, not a job.

It is a ``TypedDict`` (kopf's "typed raw bodies"), not a class: a record written by an older
Kinetic lacks newer keys and is still read as it is, and each reader keeps the default of
a missing key in one place — the ``DEFAULT_*`` constants of ``kinetic.spec.job_spec``,
which the JobSpec fields use too. Nothing here validates: a stored spec was validated
when its job was submitted.
"""

from __future__ import annotations

from typing import Any, TypedDict


class PortRecord(TypedDict):
    """One declared port (kinetic.spec.ports.Port.to_dict())."""

    name: str
    port: int
    proto: str


class SpecRecord(TypedDict, total=False):
    """A JobSpec as stored: every key optional (older records lack newer ones)."""

    accelerator: str
    spot: bool
    backend: str | None
    store: str | None
    name: str | None
    env: dict[str, str]
    capture_env: list[str]
    secret_env_names: list[str]  # the names only: values never leave the caller
    timeout: float | None
    grace_period: float
    namespace: str | None
    image: str | None
    # Resources, normalised by kinetic.spec.resources: {"request": q, "limit": q}.
    cpu: dict[str, str] | None
    memory: dict[str, str] | None
    ephemeral_storage: dict[str, str] | None
    cpu_cores: str | None
    files: list[str]  # names only: contents travel in the payload
    upload: bool
    output_sync: float | None
    resume: bool | None
    resume_from: str | None
    start_at: str | None  # ISO-8601 UTC
    retries: int
    retry_backoff: float
    retry_on_error: bool
    runtime: str | None
    volumes: list[dict[str, Any]] | None  # kinetic.spec.placement's normalised volumes
    network: str | None
    ports: list[PortRecord]
    ssh: bool
    ssh_public_key: str | None
    debug: bool
    debug_wait: float
    partition: str | None
    slurm: dict[str, Any] | None
    working_dir: str | None
    requirements: list[str] | str | None
    queue: str | None  # kubernetes: a Kueue LocalQueue
    priority_class: str | None  # kubernetes: a Kueue WorkloadPriorityClass
    notify_on: list[str] | None  # None: every end (failed, succeeded, cancelled)
    notify_hosts: list[str]  # the notify URLs' hosts only: the URLs are secrets
    depends_on: list[str]  # job ids to wait for (kinetic.spec.dependency_options)
