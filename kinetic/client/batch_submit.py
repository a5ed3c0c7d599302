"""Submitting a batch: the function behind ``f.run_async_map(...)`` (caller side).

Validates every option and input first; stores the function once, then each item as a
job (``BATCH_ID-INDEX``: its handle.json and its own arguments' payload; with no state
yet it waits for a slot), then the batch's record — the commit — and starts the batch's
driver, which runs it to its end with no process of the caller's alive
(kinetic.backends.local_batch; on kubernetes the operator, from the batch's KineticBatch:
kinetic.backends.k8s_batch). If anything fails before the commit, everything written is
deleted again: a refused batch leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from kinetic.backends import get_backend
from kinetic.client.batch_handle import BatchHandle
from kinetic.client.job_start import new_job_id
from kinetic.client.pickling import (
    client_fingerprint,
    frame_function,
    frame_in_project,
    project_by_value,
)
from kinetic.client.project_upload import ship_project
from kinetic.client.submit import function_name
from kinetic.model.batch_record import (
    DEFAULT_MAX_CONCURRENT,
    BatchRecord,
    call_arguments,
    check_batch_options,
    input_repr,
    item_job_id,
    materialize_inputs,
)
from kinetic.model.errors import SerializationError, SpecError
from kinetic.model.job_record import JobRecord
from kinetic.model.status import format_time, utcnow
from kinetic.spec.job_spec import JobSpec
from kinetic.store import Store, layout, open_store
from kinetic.system import notify_keep
from kinetic.wire.framing import store_framed
from kinetic.wire.notification import url_host
from kinetic.wire.payload import Payload

# Backends whose batches have a driver that outlives the caller (local: a detached
# supervisor; kubernetes: the operator, through a KineticBatch).
BATCH_BACKENDS = ("local", "kubernetes")


def submit_batch(
    fn: Callable[..., Any],
    inputs: Iterable[Any],
    spec: JobSpec,
    *,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    retries: int = 0,
    fail_fast: bool = False,
    cancel_running_on_fail: bool = False,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    input_mode: str = "auto",
    notify: Any = None,
    notify_on: Any = None,
) -> BatchHandle:
    """Record every item and start the batch's driver; return once it is started.

    ``notify``/``notify_on`` (None: the spec's, which takes the config file's) are the
    batch's: one summary when it ends; its items get none of their own."""
    check_batch_options(max_concurrent, retries, fail_fast, cancel_running_on_fail,
                        input_mode, tags)  # fmt: skip
    items = materialize_inputs(inputs)
    calls = [call_arguments(item, input_mode, i) for i, item in enumerate(items)]
    # Each item retries its own failures (in its runner, in its slot): `retries` is theirs.
    changes: dict[str, Any] = {
        "retries": retries,
        "retry_on_error": retries > 0 or spec.retry_on_error,
    }
    if name is not None:
        changes["name"] = name
    if notify is not None:
        changes["notify"] = notify
    if notify_on is not None:
        changes["notify_on"] = notify_on
    spec = dataclasses.replace(spec, **changes).resolved()
    # The batch notifies once, at its end: its URLs go to its driver, never to an item.
    urls, notify_on = spec.notify or (), spec.notify_on
    spec = dataclasses.replace(spec, notify=())
    if spec.backend not in BATCH_BACKENDS:
        raise SpecError(
            "backend", spec.backend,
            f"one of {', '.join(BATCH_BACKENDS)}: run_async_map's batches run there for now "
            "(run_async() each input to use another backend)",
        )  # fmt: skip
    if spec.secret_env:
        raise SpecError(
            "secret_env", sorted(spec.secret_env),
            "no secret_env with run_async_map: its values are kept nowhere a batch's driver "
            "could read them from (use env= or capture_env=)",
        )  # fmt: skip
    backend = get_backend(spec.backend)
    backend.check(spec)
    assert spec.store is not None  # resolved() filled it in
    store = open_store(spec.store)
    label = name or spec.name or getattr(fn, "__name__", "") or "batch"
    batch_id = new_job_id(label[:30])  # short enough for "-INDEX" (layout.validate_batch_id)
    layout.validate_batch_id(batch_id)
    versions = client_fingerprint()
    client: dict[str, Any] = {**versions, "cwd": os.getcwd()}
    if spec.working_dir:
        client["project"] = ship_project(store, spec.working_dir, os.getcwd())
    written: list[str] = []
    try:
        record = _write_items(store, batch_id, fn, items, calls, spec, client, versions, written)
        record = dataclasses.replace(
            record, max_concurrent=max_concurrent, retries=retries, fail_fast=fail_fast,
            cancel_running_on_fail=cancel_running_on_fail, name=name or spec.name,
            tags=dict(tags or {}), input_mode=input_mode,
            notify_hosts=[url_host(u) for u in urls],
            notify_on=list(notify_on) if notify_on is not None and urls else None,
        )  # fmt: skip
        if urls and spec.backend == "local":  # for its driver (and a later generation of it)
            notify_keep.keep(store.uri, batch_id, urls)
        store.write_bytes(layout.batch_key(batch_id), record.to_json().encode(), if_absent=True)
        if spec.backend == "kubernetes":  # the operator drives it from its KineticBatch
            from kinetic.backends.k8s_batch import create_batch

            probe = JobRecord(item_job_id(batch_id, 0), spec.backend, store.uri, "", "",
                              extra=backend.handle_fields(spec))  # fmt: skip
            create_batch(record, spec, probe, urls)
            return BatchHandle(record)
    except BaseException:
        for prefix in written:
            store.delete_prefix(prefix)
        notify_keep.forget(store.uri, batch_id)
        raise
    from kinetic.backends.local_batch import ensure_driver

    ensure_driver(store, record)
    return BatchHandle(record)


def _write_items(
    store: Store, batch_id: str, fn: Callable[..., Any], items: list[Any],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]], spec: JobSpec, client: dict[str, Any],
    versions: dict[str, str], written: list[str],
) -> BatchRecord:  # fmt: skip
    """The function once, then each item's handle and payload. An item with neither a
    state nor a launch is waiting for a slot once its batch is committed (batch.json),
    and an unfinished submission's until then (kinetic.backends.local)."""
    written.append(layout.batch_prefix(batch_id))
    fn_framed = frame_function(fn, store)
    digest = store_framed(store, layout.batch_function_key(batch_id), fn_framed)
    now = format_time(utcnow())
    template = JobRecord(
        job_id=batch_id, backend=spec.backend or "local", store=store.uri,
        function=function_name(fn), created=now or "", name=spec.name, spec=spec.to_dict(),
        extra=get_backend(spec.backend or "local").handle_fields(spec),
        client={**versions, **({"project": client["project"]} if spec.working_dir else {})},
    )  # fmt: skip
    captured, files = spec.captured_env(), spec.file_contents()
    with project_by_value():  # the caller's modules judged once, not once per item
        for index, (args, kwargs) in enumerate(calls):
            try:
                framed = frame_in_project(
                    Payload(None, args, kwargs, captured, client, None, files)
                )
            except SerializationError as exc:
                raise SpecError(f"inputs[{index}]", input_repr(items[index]),
                                f"picklable arguments: {exc}") from None  # fmt: skip
            record = dataclasses.replace(
                template, job_id=item_job_id(batch_id, index),
                payload_sha256=framed.digest.sha256,
                batch={"id": batch_id, "index": index, "function_sha256": digest.sha256},
            )  # fmt: skip
            written.append(layout.job_prefix(record.job_id))
            key = layout.handle_key(record.job_id)
            store.write_bytes(key, record.to_json().encode(), if_absent=True)
            store_framed(store, layout.payload_key(record.job_id), framed)
    # Each input's repr (bounded), for failures to name: apart from batch.json, which
    # every reader reads and which must stay small.
    reprs = json.dumps([input_repr(item) for item in items]).encode()
    store.write_bytes(layout.batch_inputs_key(batch_id), reprs)
    return BatchRecord(
        batch_id=batch_id, backend=template.backend, store=store.uri,
        function=template.function, created=template.created, count=len(items),
        function_sha256=digest.sha256,
    )  # fmt: skip


__all__ = ["submit_batch"]
