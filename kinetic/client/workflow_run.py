"""Submitting a workflow's jobs, and re-submitting the failed part of one (retry).

Where it sits: ``kinetic.workflow.run`` and `kinetic workflow run|retry` call here. The
file is validated whole (kinetic.spec.workflow_yaml), every function imported and every
job's spec resolved before the first job is submitted; then the jobs go in dependency
order, each with ``depends_on`` the ids of the jobs it waits for, so the waiting is the
jobs' own (the runner's or the operator's) and nothing of the caller needs to stay. The
record (kinetic.model.workflow_record), with every job's id chosen beforehand, is written
before the first job is submitted (the last member to end sends the workflow's summary
from it: kinetic.client.workflow_notify). If a submission fails part-way, the jobs already
submitted are cancelled and removed, and the record removed (or, on retry, restored).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from typing import Any

from kinetic.client.handle import JobHandle, load_handle
from kinetic.client.job_start import new_job_id
from kinetic.client.submit import submit
from kinetic.client.workflow_notify import (
    SummaryNotify,
    masked_source,
    member_options,
    membership,
    retry_notify,
    summary_notify,
)
from kinetic.model.errors import KineticError, SpecError
from kinetic.model.status import JobStatus, format_time, utcnow
from kinetic.model.workflow_record import WorkflowRecord
from kinetic.spec.job_spec import JobSpec
from kinetic.spec.workflow_yaml import ResultOf, WorkflowJob, WorkflowPlan, parse_workflow
from kinetic.store import Store, layout, open_store
from kinetic.system import notify_keep
from kinetic.wire.dependency_ref import replace_nested


def run_workflow(
    path_or_text: str | os.PathLike,
    *,
    store: str | None = None,
    backend: str | None = None,
    notify: Any = None,
    notify_on: Any = None,
) -> WorkflowRecord:
    """Validate, record the workflow, submit every job; its record. ``notify`` /
    ``notify_on``: where its one summary goes (over the file's ``notify:``)."""
    plan = parse_workflow(path_or_text)
    summary = summary_notify(plan, notify, notify_on)
    specs, functions = _prepare(plan, store, backend, summary)
    first = next(iter(specs.values()))
    assert first.store is not None and first.backend is not None
    record = WorkflowRecord(
        workflow_id=new_job_id(f"wf-{plan.name}"),
        name=plan.name,
        store=first.store,
        backend=first.backend,
        created=format_time(utcnow()),
        source=masked_source(plan.source, plan.notify),
        depends_on={j.name: list(j.depends_on) for j in plan.jobs},
        order=[j.name for j in plan.jobs],
        notify_hosts=summary.hosts,
        notify_on=list(summary.notify_on) if summary.notify_on is not None else None,
    )
    # Every member's id is chosen and recorded before the first is submitted, so a member
    # that ends early (the last one sends the summary) never sees an out-of-date set.
    record.jobs = {j.name: new_job_id(j.name) for j in plan.jobs}
    st = open_store(record.store)
    _write(st, record)
    if summary.urls:
        notify_keep.keep(record.store, record.workflow_id, summary.urls)
    try:
        _submit_jobs(plan, specs, functions, record.order, {}, record, summary)
    except BaseException:  # all or nothing: its jobs went (_submit_jobs), its record goes
        st.delete_prefix(_prefix(record.workflow_id))
        notify_keep.forget(record.store, record.workflow_id)
        raise
    return record


def retry_workflow(record: WorkflowRecord) -> WorkflowRecord:
    """Re-run the failed and cancelled jobs and everything below them; the jobs that
    succeeded stay, and their stored results are what the re-run jobs receive."""
    from kinetic.backends import get_backend

    store = open_store(record.store)
    plan = parse_workflow(record.source)
    existing = {name: load_job(record, job_id) for name, job_id in record.jobs.items()}
    states = {name: get_backend(h.backend).state(h) for name, h in existing.items()}
    if running := [n for n, s in states.items() if not s.status.is_terminal]:
        raise KineticError(
            f"workflow {record.workflow_id} is still running ({', '.join(running)}): "
            "wait for it, or cancel it, before retrying"
        )
    failed = {n for n, s in states.items() if s.status != JobStatus.SUCCEEDED}
    again = [j.name for j in plan.jobs if j.name in plan.downstream(failed)]
    if not again:
        return record
    summary = retry_notify(record)
    specs, functions = _prepare(plan, record.store, record.backend, summary, only=set(again))
    kept = {n: h for n, h in existing.items() if n not in again}
    before = record.to_json()
    replaced = {name: record.jobs[name] for name in again if name in record.jobs}
    record.jobs = {**record.jobs, **{name: new_job_id(name) for name in again}}
    record.history.append({"at": format_time(utcnow()), "replaced": replaced})
    record.notify_hosts = summary.hosts
    _write(store, record)  # the new generation's members, before any of them is submitted
    try:
        _submit_jobs(plan, specs, functions, again, kept, record, summary)
    except BaseException:  # the record as it was: the new jobs went (_submit_jobs)
        store.write_bytes(layout.workflow_key(record.workflow_id), before.encode())
        restored = WorkflowRecord.from_json(before)
        record.jobs, record.history = restored.jobs, restored.history
        record.notify_hosts = restored.notify_hosts
        raise
    return record


def _prepare(
    plan: WorkflowPlan,
    store: str | None,
    backend: str | None,
    summary: SummaryNotify,
    only: set[str] | None = None,
) -> tuple[dict[str, JobSpec], dict[str, Callable[..., Any]]]:
    """Every job's resolved spec and function, checked before anything is submitted: one
    store, one backend (and namespace) for all, as dependencies require."""
    from kinetic.backends import get_backend

    specs: dict[str, JobSpec] = {}
    functions: dict[str, Callable[..., Any]] = {}
    for job in plan.jobs:
        if only is not None and job.name not in only:
            continue
        options = {**job.options, "name": job.name}
        options["store"] = store or plan.store
        options["backend"] = backend or plan.backend
        options.update(member_options(summary))  # the workflow's URLs: no job's own message
        try:
            spec = JobSpec.from_options(**options).resolved()
            get_backend(str(spec.backend)).check_options(spec)
        except SpecError as exc:
            raise SpecError(f"jobs[{job.name}].{exc.option}", exc.value, exc.accepted) from None
        specs[job.name] = spec
        if job.function is not None:
            functions[job.name] = _import(job)
    places = {(s.store, s.backend, s.namespace) for s in specs.values()}
    if len(places) > 1:
        raise SpecError("jobs", sorted(map(str, places)),
                        "one store, backend and namespace for every job of a workflow")  # fmt: skip
    return specs, functions


def _import(job: WorkflowJob) -> Callable[..., Any]:
    module_name, _, attr = str(job.function).partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"jobs[{job.name}].function", job.function,
                        f"an importable 'module:callable' ({exc})") from None  # fmt: skip
    value = getattr(value, "fn", value)  # a @kinetic.run function: the plain one
    if not callable(value):
        raise SpecError(f"jobs[{job.name}].function", job.function, "a callable")
    return value


def _submit_jobs(
    plan: WorkflowPlan,
    specs: dict[str, JobSpec],
    functions: dict[str, Callable[..., Any]],
    names: list[str],
    kept: dict[str, JobHandle],
    record: WorkflowRecord,
    summary: SummaryNotify,
) -> dict[str, JobHandle]:
    """Submit ``names`` (in plan order), each with the id the record has for it and its
    membership; ``kept``: jobs already there that they may wait for."""
    submitted: dict[str, JobHandle] = {}
    member = membership(record, summary)
    try:
        for name in names:
            job, spec = plan.job(name), specs[name]
            known = {**kept, **submitted}
            deps = tuple(known[d].job_id for d in job.depends_on)
            spec = dataclasses.replace(spec, depends_on=deps)
            if job.command is not None:
                handle = submit(None, (), {}, spec, command=list(job.command),
                                job_id=record.jobs[name], workflow=member)  # fmt: skip
            else:

                def swap(item: Any, known: dict[str, JobHandle] = known) -> JobHandle | None:
                    return known[item.name] if isinstance(item, ResultOf) else None

                args = tuple(replace_nested(list(job.args), swap))
                kwargs = replace_nested(dict(job.kwargs), swap)
                handle = submit(functions[name], args, kwargs, spec,
                                job_id=record.jobs[name], workflow=member)  # fmt: skip
            submitted[name] = handle
    except BaseException:
        for handle in submitted.values():  # all or nothing: what was submitted goes
            try:
                handle.cancel(wait=True)
                handle.cleanup()
            except Exception:  # the first failure is the one to report
                pass
        raise
    return submitted


def load_job(record: WorkflowRecord, job_id: str) -> JobHandle:
    try:
        return load_handle(job_id, record.store)
    except KineticError:  # cleaned up: a handle whose state says so
        return JobHandle(job_id=job_id, backend=record.backend, store=record.store,
                         function="?", created=record.created)  # fmt: skip


def _write(store: Store, record: WorkflowRecord) -> None:
    store.write_bytes(layout.workflow_key(record.workflow_id), record.to_json().encode())


def _prefix(workflow_id: str) -> str:
    return layout.workflow_key(workflow_id).rpartition("/")[0]
