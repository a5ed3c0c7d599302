"""``kinetic dashboard``'s batches and workflows: their JSON API (aiohttp routes).

Where it sits: kinetic.cli.dashboard_api's app adds these routes (``add_group_routes``);
the page's kinetic/cli/dashboard_static/groups.js speaks them. Batches are read through
``attach_batch``/``list_batches`` and workflows through ``attach_workflow``/
``list_workflows`` (kinetic.client) — the same handles as ``kinetic batches`` and
``kinetic workflow`` — so there is no second way of reading them.

Routes (all JSON; every request passes the dashboard's guard first):

* ``GET  /api/batches?offset=&limit=``        a page of batches, newest first, each with its
                                              items' counts from the live job list
* ``GET  /api/batches/{id}?offset=&limit=``   one batch: its counts by status and a page of
                                              its items (status, reason, duration)
* ``POST /api/batches/{id}/cancel``, ``POST /api/batches/{id}/retry`` (its failed items)
* ``GET  /api/workflows?offset=&limit=``      a page of workflows, newest first, with phases
* ``GET  /api/workflows/{id}``                its graph: each job (status, reason,
                                              duration) and the edges (dependency → dependent)
* ``POST /api/workflows/{id}/cancel``, ``POST /api/workflows/{id}/retry``

``job_filter`` turns the job list's ``batch`` and ``workflow`` parameters into a JobFilter's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kinetic.client.batch_handle import BatchHandle
from kinetic.client.batch_lookup import attach_batch, list_batches
from kinetic.client.job_index import JobView
from kinetic.client.workflow_handle import WorkflowHandle, attach_workflow, list_workflows
from kinetic.model.batch_record import count_statuses, item_job_id
from kinetic.model.errors import KineticError
from kinetic.model.status import JobState

GROUP_PAGE = 20  # batches or workflows a list page shows by default
ITEM_PAGE = 50  # a batch's items a batch page shows by default
MAX_PAGE = 500


GROUP_INDEX = web.AppKey("group_index", JobView)


def add_group_routes(app: web.Application, index: JobView) -> None:
    """Add the batch and workflow routes to the dashboard's ``app``."""
    app[GROUP_INDEX] = index
    app.router.add_get("/api/batches", _batches)
    app.router.add_get("/api/batches/{batch_id}", _batch)
    app.router.add_post("/api/batches/{batch_id}/cancel", _batch_cancel)
    app.router.add_post("/api/batches/{batch_id}/retry", _batch_retry)
    app.router.add_get("/api/workflows", _workflows)
    app.router.add_get("/api/workflows/{workflow_id}", _workflow)
    app.router.add_post("/api/workflows/{workflow_id}/cancel", _workflow_cancel)
    app.router.add_post("/api/workflows/{workflow_id}/retry", _workflow_retry)


def _index(request: web.Request) -> JobView:
    return request.app[GROUP_INDEX]


def page_bounds(query: Any, default: int) -> tuple[int, int]:
    """(offset, limit) of a request's ``offset`` and ``limit`` (pure; ValueError if bad)."""
    limit = min(MAX_PAGE, max(1, int(query.get("limit", default))))
    return max(0, int(query.get("offset", 0))), limit


# -- batches ------------------------------------------------------------------------------------
def batch_row(batch: BatchHandle, counts: dict[str, int]) -> dict[str, Any]:
    """A batch as the list shows it (pure)."""
    record = batch.record
    return {"batch_id": record.batch_id, "name": record.name, "function": record.function,
            "backend": record.backend, "created": record.created, "count": record.count,
            "counts": counts}  # fmt: skip


def item_row(batch_id: str, index: int, state: JobState) -> dict[str, Any]:
    """One item of a batch as its page shows it (pure)."""
    return {"index": index, "job_id": item_job_id(batch_id, index),
            "status": state.status.value, "reason": state.reason,
            "message": (state.message or "").splitlines()[0][:200] if state.message else None,
            "attempts": state.attempts, "duration": state.duration}  # fmt: skip


async def _batches(request: web.Request) -> web.Response:
    index = _index(request)
    offset, limit = page_bounds(request.query, GROUP_PAGE)
    found = await asyncio.to_thread(list_batches, index.store)
    counts = index.batch_counts()  # from the live job list: no item is read here
    rows = [batch_row(b, counts.get(b.batch_id, {})) for b in found[offset : offset + limit]]
    return web.json_response({"total": len(found), "offset": offset, "limit": limit,
                              "batches": rows})  # fmt: skip


def _batch_page(batch_id: str, store: str, offset: int, limit: int) -> dict[str, Any]:
    batch = attach_batch(batch_id, store)
    states = batch.states()
    body = batch_row(batch, count_statuses(states))
    body.update(offset=offset, limit=limit, total=len(states), can_retry=True,
                items=[item_row(batch_id, i, states[i])
                       for i in range(offset, min(len(states), offset + limit))])  # fmt: skip
    return body


async def _batch(request: web.Request) -> web.Response:
    offset, limit = page_bounds(request.query, ITEM_PAGE)
    body = await asyncio.to_thread(_batch_page, request.match_info["batch_id"],
                                   _index(request).store, offset, limit)  # fmt: skip
    return web.json_response(body)


async def _batch_cancel(request: web.Request) -> web.Response:
    batch = await asyncio.to_thread(attach_batch, request.match_info["batch_id"],
                                    _index(request).store)  # fmt: skip
    counts = await asyncio.to_thread(batch.cancel, False)  # the page follows it ending
    return web.json_response({"batch_id": batch.batch_id, "counts": counts})


async def _batch_retry(request: web.Request) -> web.Response:
    batch = await asyncio.to_thread(attach_batch, request.match_info["batch_id"],
                                    _index(request).store)  # fmt: skip
    queued = await asyncio.to_thread(batch.retry_failed)
    return web.json_response({"batch_id": batch.batch_id, "retried": queued})


# -- workflows ----------------------------------------------------------------------------------
def _workflow_rows(store: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    found = list_workflows(store)
    rows = []
    for flow in found[offset : offset + limit]:  # only the page's jobs are asked their state
        status = flow.status()
        rows.append({"workflow_id": flow.workflow_id, "name": flow.name,
                     "created": flow.record.created, "backend": flow.record.backend,
                     "jobs": len(flow.record.jobs), "phase": status.phase.value,
                     "counts": count_statuses(status.jobs.values())})  # fmt: skip
    return len(found), rows


async def _workflows(request: web.Request) -> web.Response:
    offset, limit = page_bounds(request.query, GROUP_PAGE)
    total, rows = await asyncio.to_thread(_workflow_rows, _index(request).store, offset, limit)
    return web.json_response({"total": total, "offset": offset, "limit": limit,
                              "workflows": rows})  # fmt: skip


async def _attach_workflow(request: web.Request) -> WorkflowHandle:
    return await asyncio.to_thread(attach_workflow, request.match_info["workflow_id"],
                                   _index(request).store)  # fmt: skip


def workflow_job_ids(flow: WorkflowHandle) -> frozenset[str]:
    """Every job a workflow has run: the latest run of each, and those retries replaced."""
    ids = set(flow.record.jobs.values())
    for entry in flow.record.history:
        ids.update((entry.get("replaced") or {}).values())
    return frozenset(ids)


def group_filter(store: str, batch: str, workflow: str) -> dict[str, Any]:
    """The JobFilter fields of the job list's ``batch`` and ``workflow`` parameters (a
    workflow's jobs are its record's ids: a job's own record does not name its workflow)."""
    fields: dict[str, Any] = {"batch": batch}
    if workflow:
        fields["job_ids"] = workflow_job_ids(attach_workflow(workflow, store))
    return fields


async def _workflow(request: web.Request) -> web.Response:
    flow = await _attach_workflow(request)
    graph = await asyncio.to_thread(flow.graph)
    graph["created"] = flow.record.created
    graph["counts"] = count_statuses_of(graph["nodes"])
    return web.json_response(graph)


def count_statuses_of(nodes: list[dict[str, Any]]) -> dict[str, int]:
    """A graph's nodes counted by status (pure)."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    return counts


async def _workflow_cancel(request: web.Request) -> web.Response:
    flow = await _attach_workflow(request)
    status = await asyncio.to_thread(flow.cancel, False)
    return web.json_response({"workflow_id": flow.workflow_id, "phase": status.phase.value})


async def _workflow_retry(request: web.Request) -> web.Response:
    flow = await _attach_workflow(request)
    try:
        await asyncio.to_thread(flow.retry)
    except KineticError as exc:  # still running: nothing to retry yet
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"workflow_id": flow.workflow_id, "jobs": flow.record.jobs})
