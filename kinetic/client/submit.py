"""Submitting a job: the function behind ``f.run_async()``, ``f()`` and ``kinetic.submit()``.

Validates the options, pickles the payload, records the job and starts it through its
backend; nothing is left behind when any step before the start fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kinetic.backends import get_backend
from kinetic.client.dependencies import forget_dependents, link, record_dependents
from kinetic.client.handle import JobHandle
from kinetic.client.job_start import new_job_id, start
from kinetic.client.pickling import client_fingerprint, frame_payload
from kinetic.client.project_upload import ship_project
from kinetic.model.errors import SpecError
from kinetic.model.status import format_time, utcnow
from kinetic.spec.job_spec import JobSpec
from kinetic.store import open_store
from kinetic.wire.payload import Payload


def function_name(fn: object) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def submit(
    fn: Callable[..., Any] | None,
    args: tuple,
    kwargs: dict,
    spec: JobSpec,
    command: list[str] | None = None,
    *,
    job_id: str | None = None,
    workflow: dict[str, Any] | None = None,
) -> JobHandle:
    """Serialize, record and start a job; nothing is created if any step before start fails.

    ``job_id``: an id chosen beforehand (a workflow records its members' ids before it
    submits them); ``workflow``: the job's membership of one (JobRecord.workflow)."""
    spec = spec.resolved()
    backend = get_backend(spec.backend)
    backend.check(spec)
    assert spec.store is not None  # resolved() filled it in
    store = open_store(spec.store)
    extra = backend.handle_fields(spec)
    # Handles in the arguments become markers; every dependency is checked (client/dependencies).
    linked = link(args, kwargs, spec, store, extra)
    args, kwargs, spec = linked.args, linked.kwargs, linked.spec
    versions = client_fingerprint()
    client: dict[str, Any] = {**versions, "cwd": os.getcwd()}
    if spec.working_dir:
        client["project"] = ship_project(store, spec.working_dir, os.getcwd())
    payload = Payload(fn, args, kwargs, spec.captured_env(), client, command, spec.file_contents())
    framed = frame_payload(payload, store)
    name = spec.name or (os.path.basename(command[0]) if command else getattr(fn, "__name__", ""))
    handle = JobHandle(
        job_id=job_id or new_job_id(name or "job"),
        backend=backend.name,
        store=store.uri,
        function=f"command:{os.path.basename(command[0])}" if command else function_name(fn),
        command=command,
        created=format_time(utcnow()),
        name=spec.name,
        spec=spec.to_dict(),
        payload_sha256=framed.digest.sha256,
        extra=extra,
        # What was shipped (working_dir=) is evidence too: its hash, and if it was uploaded.
        client={**versions, **({"project": client["project"]} if spec.working_dir else {})},
        workflow=workflow,
    )
    try:
        record_dependents(store, handle.job_id, spec.depends_on)
    except BaseException:
        framed.close()
        forget_dependents(store, handle.job_id, spec.depends_on)
        raise
    try:
        start(backend, handle, spec, framed)
    except BaseException:
        forget_dependents(store, handle.job_id, spec.depends_on)
        raise
    return handle


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


__all__ = ["new_job_id", "submit", "submit_command"]
