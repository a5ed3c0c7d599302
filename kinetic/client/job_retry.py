"""Retrying a finished job: ``handle.retry(**overrides)`` and ``kinetic jobs retry``.

Where it sits: after a job ended (FAILED or CANCELLED; SUCCEEDED only with ``force``). The
retry is a new job, started through the same path as a submission
(``kinetic.client.submit.start``), from the original's stored payload (copied as is: its
digest, hence the runner's check, stays the same) and its recorded spec with the
overrides applied. The two are linked both ways: the new record's ``retry_of``, and a
marker ``jobs/ORIGINAL/retried_as/NEW.json`` (handle.json is written once, never updated).
Its notify URLs are carried over unless ``notify=`` is given (kinetic.client.notify_carry).

It returns the new job's record; ``JobHandle.retry`` makes it a handle (this module never
imports the handle, which calls it). Refused before anything is created: a job still
running, a succeeded one without ``force``, a payload that was cleaned up, options whose
values were never stored (secret values: give them again), and options the stored
payload fixed (files, captured env, the project, the store).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from typing import Any

from kinetic.backends import get_backend
from kinetic.client.job_start import new_job_id, start
from kinetic.client.notify_carry import NotifyCarry, NotifyNotCarried, plan_carry
from kinetic.k8s.kineticjob import NOTIFY_URLS_FROM
from kinetic.model.errors import RetryRefusedError, SpecError, StorageError
from kinetic.model.job_record import JobRecord
from kinetic.model.spec_record import SpecRecord
from kinetic.model.status import JobStatus, format_time, utcnow
from kinetic.spec.job_spec import JobSpec
from kinetic.store import ObjectNotFound, Store, layout, open_store
from kinetic.store.store_contract import Digest
from kinetic.wire.framing import HEADER_SIZE, Framed, new_framed

# Options whose values went into the payload (or the store) at submission: a retry runs
# that payload, so they cannot change. Why, for the error message.
FIXED_BY_PAYLOAD = {
    "store": "the payload lives in the original's store",
    "files": "the files' contents are in the stored payload",
    "capture_env": "the captured values are in the stored payload",
    "working_dir": "the project shipped with the original is the one the payload runs in",
}
# Recorded options a retry must not re-check against this machine (the directory may be
# another machine's): carried into the new record as recorded.
_CARRIED = ("files", "working_dir")


def retry(handle: JobRecord, *, force: bool = False, **overrides: Any) -> JobRecord:
    """A new job running ``handle``'s payload again, with ``overrides`` of its options."""
    original = _reload(handle)
    spec = retry_spec(original.spec, overrides)
    backend = get_backend(spec.backend or original.backend)
    carry = plan_carry(original, backend.name, overrides)  # notify=: the original's URLs
    if carry.note:
        warnings.warn(carry.note, NotifyNotCarried, stacklevel=3)
    if carry.urls or carry.urls_from:  # kubernetes: the operator copies them (urlsFrom)
        spec = dataclasses.replace(spec, notify=carry.urls)
    backend.check(spec)  # before anything is created, as a submission does
    _check_retryable(original, force)
    store = open_store(original.store)
    framed = _copy_payload(store, original)
    new = JobRecord(
        job_id=new_job_id(original.name or _short_name(original.function)),
        backend=backend.name,
        store=store.uri,
        function=original.function,
        command=original.command,
        created=format_time(utcnow()),
        name=original.name,
        spec=_with_carried(spec.to_dict(), original.spec, carry),
        payload_sha256=framed.digest.sha256,
        # The original's cluster (context, kubeconfig) unless this machine's settings or
        # the overrides name another; its namespace is the spec's.
        extra={
            **(
                {k: v for k, v in original.extra.items() if k != NOTIFY_URLS_FROM}
                if backend.name == original.backend
                else {}
            ),
            **backend.handle_fields(spec),
            **({NOTIFY_URLS_FROM: carry.urls_from} if carry.urls_from else {}),
        },
        client=original.client,  # the payload's versions and project: the original's
        retry_of=original.job_id,
        batch=original.batch,  # a batch's item: its payload needs the batch's function
    )
    start(backend, new, spec, framed)
    _link(store, original.job_id, new, sorted(overrides))
    return new


def retry_spec(recorded: SpecRecord, overrides: dict[str, Any]) -> JobSpec:
    """The retry's spec: the recorded one with ``overrides`` applied (pure; SpecError on a
    bad override, naming it and what is accepted)."""
    known = {f for f in JobSpec.__dataclass_fields__}
    for option in overrides:
        if option not in known:
            raise SpecError("option", option, f"one of {', '.join(sorted(known))}")
        if option in FIXED_BY_PAYLOAD:
            raise SpecError(option, overrides[option],
                            f"unchanged on a retry: {FIXED_BY_PAYLOAD[option]}")  # fmt: skip
    names = recorded.get("secret_env_names") or []
    if names and "secret_env" not in overrides:
        raise SpecError(
            "secret_env", None,
            f"the values of {', '.join(names)} again (retry(secret_env={{...}})): "
            "secret values are kept nowhere after a job starts",
        )  # fmt: skip
    base = {k: v for k, v in recorded.items() if k in known and k not in (*_CARRIED, "secret_env")}
    base["start_at"] = None  # the original's start time has passed: the retry starts now
    return JobSpec(**{**base, **overrides}).resolved()


def _with_carried(spec: SpecRecord, recorded: SpecRecord, carry: NotifyCarry) -> SpecRecord:
    """``spec`` with the options in ``_CARRIED`` as the original recorded them (and the
    notify hosts whose URLs the operator carries over)."""
    carried: SpecRecord = {**spec, "files": recorded.get("files", []),
                           "working_dir": recorded.get("working_dir")}  # fmt: skip
    if carry.urls_from:
        carried["notify_hosts"] = list(carry.hosts)
    return carried


def _reload(handle: JobRecord) -> JobRecord:
    """The record as stored: a listed handle may carry only part of it (a KineticJob's)."""
    store = open_store(handle.store)
    try:
        return JobRecord.from_json(store.read_bytes(layout.handle_key(handle.job_id)).decode())
    except ObjectNotFound:
        when = _cleaned_up_at(store, handle.job_id)
        raise RetryRefusedError(
            handle.job_id,
            f"its records and payload were cleaned up{f' at {when}' if when else ''}; "
            "nothing is left to run",
        ) from None


def _check_retryable(record: JobRecord, force: bool) -> None:
    state = get_backend(record.backend).state(record)
    if state.status in (JobStatus.PENDING, JobStatus.RUNNING):
        raise RetryRefusedError(
            record.job_id, f"it is still {state.status.value}; cancel it first, or wait for it"
        )
    if force or state.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        return
    if state.status == JobStatus.SUCCEEDED:
        raise RetryRefusedError(record.job_id, "it succeeded; force=True (--force) runs it again")
    raise RetryRefusedError(  # NOT_FOUND: its records are in the store, its outcome is not
        record.job_id,
        f"its outcome is unknown ({state.message or 'no state'}); force=True (--force) runs it",
    )


def _copy_payload(store: Store, record: JobRecord) -> Framed:
    """The original's payload.pkl, copied into a file ready to store under the new id."""
    framed = new_framed(store)  # a directory: the copy becomes the object by a rename
    file = framed.file
    try:
        store.download(layout.payload_key(record.job_id), file)  # type: ignore[arg-type]
        file.seek(0)
        header = file.read(HEADER_SIZE).split()
    except ObjectNotFound:
        framed.close()
        when = _cleaned_up_at(store, record.job_id)
        raise RetryRefusedError(
            record.job_id,
            f"its payload was cleaned up{f' at {when}' if when else ''}; nothing is left to run",
        ) from None
    except BaseException:
        framed.close()
        raise
    if len(header) != 3 or (record.payload_sha256 and header[1].decode() != record.payload_sha256):
        framed.close()
        raise RetryRefusedError(record.job_id, "its stored payload does not match its record")
    framed.digest = Digest(int(header[2]), header[1].decode())
    return framed


def _link(store: Store, original: str, new: JobRecord, overrides: list[str]) -> None:
    """The marker naming the retry beside the original (the other half of the link)."""
    marker = {"job_id": new.job_id, "created": new.created, "overrides": overrides}
    try:
        store.write_bytes(layout.retried_as_key(original, new.job_id), json.dumps(marker).encode())
    except StorageError as exc:  # the retry runs: only the backward link is missing
        warnings.warn(
            f"retry {new.job_id} started, but {original} could not record it: {exc}",
            stacklevel=3,
        )


def retried_as(store: Store, job_id: str) -> list[str]:
    """The jobs that retry ``job_id``, oldest first."""
    found = []
    for info in store.list(layout.retried_as_prefix(job_id)):
        try:
            marker = json.loads(store.read_bytes(info.key))
        except (ObjectNotFound, ValueError):
            continue
        found.append((marker.get("created") or "", marker.get("job_id") or ""))
    return [job for _, job in sorted(found) if job]


def _short_name(function: str) -> str:
    if function.startswith("command:"):
        return function.partition(":")[2]
    return function.rpartition(".")[2]


def _cleaned_up_at(store: Store, job_id: str) -> str | None:
    """When ``job_id`` was cleaned up, from its tombstone (kept outside its prefix)."""
    try:
        return json.loads(store.read_bytes(layout.tombstone_key(job_id))).get("cleaned_up")
    except (ObjectNotFound, ValueError):
        return None
