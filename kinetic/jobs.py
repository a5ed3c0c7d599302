"""Submitting, finding and listing jobs: the functions behind run(), attach() and list_jobs()."""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Callable
from typing import Any

from . import config
from .backends import get_backend
from .errors import JobExistsError, JobNotFoundError, SpecError
from .handle import JobHandle, load_handle
from .payload import Payload, client_fingerprint, frame_payload
from .spec import JobSpec
from .status import JobState, JobStatus, format_time, utcnow
from .store import ObjectNotFound, Store, layout, open_store

_ALPHABET = string.ascii_lowercase + string.digits


def new_job_id(name: str) -> str:
    """``{slug}-{8 random chars}``: readable in `kinetic jobs list`, valid as a k8s name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "job"
    return f"{slug}-{''.join(secrets.choice(_ALPHABET) for _ in range(8))}"


def function_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def submit(
    fn: Callable[..., Any] | None,
    args: tuple,
    kwargs: dict,
    spec: JobSpec,
    command: list[str] | None = None,
) -> JobHandle:
    """Serialize, record and start a job; nothing is created if any step before start fails."""
    spec = spec.resolved()
    backend = get_backend(spec.backend)
    backend.check(spec)
    store = open_store(spec.store)
    client = client_fingerprint()
    client["cwd"] = os.getcwd()
    payload = Payload(fn, args, kwargs, spec.captured_env(), client, command, spec.file_contents())
    framed = frame_payload(payload)
    name = spec.name or (os.path.basename(command[0]) if command else getattr(fn, "__name__", ""))
    handle = JobHandle(
        job_id=new_job_id(name or "job"),
        backend=backend.name,
        store=store.uri,
        function=f"command:{os.path.basename(command[0])}" if command else function_name(fn),
        command=command,
        created=format_time(utcnow()),
        name=spec.name,
        spec=spec.to_dict(),
        payload_sha256=framed.digest.sha256,
        extra=backend.handle_fields(spec),
    )
    try:
        backend.submit(handle, spec, framed)
    except JobExistsError:
        framed.close()
        raise  # another job's records: never touch them
    except BaseException:
        framed.close()
        store.delete_prefix(layout.job_prefix(handle.job_id))  # it never started
        raise
    return handle


def attach(job_id: str, store: str | None = None) -> JobHandle:
    """A handle for an existing job, from any process that reaches its store."""
    layout.validate_job_id(job_id)
    return load_handle(job_id, store)


def list_jobs(
    store: str | None = None,
    status: JobStatus | str | None = None,
    limit: int | None = None,
    *,
    backend: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> list[tuple[JobHandle, JobState]]:
    """Jobs with their states, newest first, finished ones included.

    With the kubernetes backend (argument or setting): the cluster's KineticJobs in
    ``namespace`` (default: the configured one) or in all namespaces. Otherwise: every job
    recorded in the store.
    """
    if config.resolve("backend", backend).value == "kubernetes":
        rows = get_backend("kubernetes").list_jobs(namespace, all_namespaces)  # type: ignore[attr-defined]
    else:
        rows = _store_rows(open_store(config.resolve("store", store).value))
    wanted = JobStatus(status.upper() if isinstance(status, str) else status) if status else None
    rows = [r for r in rows if wanted is None or r[1].status == wanted]
    return rows[:limit] if limit else rows


def _store_rows(st: Store) -> list[tuple[JobHandle, JobState]]:
    """Every job recorded in the store, newest first, with states asked of each backend in
    bulk."""
    handles = []
    for job_id in st.list_children(layout.JOBS):
        try:
            handles.append(JobHandle.from_json(st.read_bytes(layout.handle_key(job_id)).decode()))
        except (ObjectNotFound, ValueError):
            continue  # a job being created or deleted right now
    handles.sort(key=lambda h: h.created, reverse=True)
    by_backend: dict[str, list[JobHandle]] = {}
    for h in handles:
        by_backend.setdefault(h.backend, []).append(h)
    states: dict[str, JobState] = {}
    for name, group in by_backend.items():
        for h, s in zip(group, get_backend(name).states(group), strict=True):
            states[h.job_id] = s
    return [(h, states[h.job_id]) for h in handles]


def submit_command(command: list[str], **options: Any) -> JobHandle:
    """Run ``command`` (a list: no shell) as a job; ``kinetic.submit``.

    Takes the options of ``kinetic.run``. ``result()`` returns the exit code (0) on
    success and raises JobFailedError with the code and the end of its output otherwise.
    """
    if (
        not isinstance(command, list | tuple)
        or not command
        or not all(isinstance(c, str) and c for c in command)
    ):
        raise SpecError("command", command, "a non-empty list of strings, e.g. ['python', 'x.py']")
    return submit(None, (), {}, JobSpec.from_options(**options), command=list(command))


__all__ = ["JobNotFoundError", "attach", "list_jobs", "new_job_id", "submit", "submit_command"]
