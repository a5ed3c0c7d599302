"""``kinetic dashboard``'s web app: the JSON API and the static page (aiohttp).

Routes (all JSON unless said):

* ``GET  /api/info``                    the store, the backend, whether retry exists
* ``GET  /api/jobs``                    a page: ``status``, ``name``, ``function``, ``batch``,
                                        ``workflow``, ``sort``, ``order`` (asc|desc),
                                        ``offset``, ``limit``
* ``GET  /api/jobs/{id}``               one job: its record, state, attempts, outputs
* ``GET  /api/jobs/{id}/progress``      its latest report_progress
* ``GET  /api/jobs/{id}/logs``          its log as Server-Sent Events, following until the
                                        job ends; each event's id is ``attempt:offset``, so a
                                        reconnecting EventSource (Last-Event-ID) or
                                        ``?attempt=&offset=`` resumes where it stopped
* ``GET  /api/jobs/{id}/outputs/{path}`` one output file
* ``POST /api/jobs/{id}/cancel``, ``POST /api/jobs/{id}/retry``
* batches and workflows: kinetic.cli.dashboard_groups

The list is served from a JobView that a background task refreshes; everything else asks
the client API (attach, state, cancel, retry) directly. Blocking calls run in threads.
Every request passes kinetic.cli.dashboard_guard first.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

from aiohttp import web

from kinetic.cli.dashboard_groups import add_group_routes, group_filter
from kinetic.cli.dashboard_guard import Guard, refusal
from kinetic.client.handle import JobHandle
from kinetic.client.job_index import DEFAULT_PAGE, JobFilter, JobView
from kinetic.client.listing import attach, parse_status_filter
from kinetic.client.resource_use import resource_use, usage_text
from kinetic.model.errors import JobNotFoundError, KineticError, RetryRefusedError, SpecError
from kinetic.model.status import JobState
from kinetic.store import ObjectNotFound, layout

REFRESH_EVERY = 1.5  # seconds between refreshes of the job list
LOG_POLL = 0.5  # seconds between reads of a followed log with nothing new
MAX_PAGE = 500

INDEX = web.AppKey("index", JobView)
GUARD = web.AppKey("guard", Guard)


def make_app(index: JobView, guard: Guard) -> web.Application:
    app = web.Application(middlewares=[_guarded])
    app[INDEX], app[GUARD] = index, guard
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/info", _info)
    app.router.add_get("/api/jobs", _list)
    app.router.add_get("/api/jobs/{job_id}", _get)
    app.router.add_get("/api/jobs/{job_id}/progress", _progress)
    app.router.add_get("/api/jobs/{job_id}/logs", _logs)
    app.router.add_get("/api/jobs/{job_id}/outputs/{path:.+}", _output)
    app.router.add_post("/api/jobs/{job_id}/cancel", _cancel)
    app.router.add_post("/api/jobs/{job_id}/retry", _retry)
    add_group_routes(app, index)
    app.on_startup.append(_start_refresher)
    app.on_cleanup.append(_stop_refresher)
    return app


def can_retry() -> bool:
    """JobHandle.retry exists in this version (it creates a new, linked job)."""
    return hasattr(JobHandle, "retry")


@web.middleware
async def _guarded(request: web.Request, handler: Any) -> web.StreamResponse:
    refused = refusal(request.app[GUARD], request.method, request.headers, request.query)
    if refused is not None:
        status, message = refused
        return web.json_response({"error": message}, status=status)
    try:
        return await handler(request)
    except JobNotFoundError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except RetryRefusedError as exc:  # still running, succeeded, or its payload is gone
        return web.json_response({"error": str(exc)}, status=409)
    except (SpecError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except KineticError as exc:
        return web.json_response({"error": str(exc)}, status=500)


# -- the page -----------------------------------------------------------------------------------
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def _asset(name: str) -> bytes:
    return resources.files("kinetic.cli").joinpath("dashboard_static", name).read_bytes()


async def _page(request: web.Request) -> web.Response:
    return web.Response(body=_asset("index.html"), content_type="text/html",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or suffix not in STATIC_TYPES:
        raise web.HTTPNotFound()
    try:
        body = _asset(name)
    except FileNotFoundError:
        raise web.HTTPNotFound() from None
    return web.Response(body=body, content_type=STATIC_TYPES[suffix])


# -- the list -----------------------------------------------------------------------------------
async def _start_refresher(app: web.Application) -> None:
    async def refresh_forever() -> None:
        while True:
            try:
                await asyncio.to_thread(app[INDEX].refresh)
            except Exception as exc:  # a store hiccup: said, and tried again
                print(f"kinetic dashboard: refreshing the job list failed: {exc}", flush=True)
            await asyncio.sleep(REFRESH_EVERY)

    app["refresher"] = asyncio.create_task(refresh_forever())


async def _stop_refresher(app: web.Application) -> None:
    app["refresher"].cancel()


def job_row(handle: JobHandle, state: JobState) -> dict[str, Any]:
    """A job as the list shows it (pure)."""
    return {
        "job_id": handle.job_id,
        "name": handle.name,
        "function": handle.function,
        "func_name": handle.func_name,
        "backend": handle.backend,
        "status": state.status.value,
        "reason": state.reason,
        "message": (state.message or "").splitlines()[0][:200] if state.message else None,
        "progress": state.progress,
        "attempts": state.attempts,
        "created": handle.created,
        "duration": state.duration,
    }


async def _list(request: web.Request) -> web.Response:
    index, q = request.app[INDEX], request.query
    groups: dict[str, Any] = {"batch": q.get("batch", "")}
    if q.get("workflow"):  # its record is read: its job ids
        groups = await asyncio.to_thread(group_filter, index.store, groups["batch"],
                                         q["workflow"])  # fmt: skip
    keep = JobFilter(parse_status_filter(q.get("status") or None), q.get("name", ""),
                     q.get("function", ""), **groups)  # fmt: skip
    limit = min(MAX_PAGE, max(1, int(q.get("limit", DEFAULT_PAGE))))
    page = index.page(keep, sort=q.get("sort", "created"), descending=q.get("order") != "asc",
                      offset=max(0, int(q.get("offset", 0))), limit=limit)  # fmt: skip
    body = {"total": page.total, "offset": page.offset, "limit": page.limit,
            "counts": page.counts, "jobs": [job_row(h, s) for h, s in page.rows]}  # fmt: skip
    return web.json_response(body)


# -- one job ------------------------------------------------------------------------------------
async def _handle(request: web.Request) -> JobHandle:
    return await asyncio.to_thread(attach, request.match_info["job_id"], request.app[INDEX].store)


def _details(handle: JobHandle) -> dict[str, Any]:
    state = handle.state()
    data = job_row(handle, state)
    data.update(state.to_dict())
    data["function"] = handle.function
    data["store"] = handle.store
    data["spec"] = {k: v for k, v in handle.spec.items() if k != "env"}  # values may be secret
    data["can_retry"] = can_retry()
    data["retry_of"] = handle.retry_of
    data["retried_as"] = handle.retried_as()
    data["resources"] = resource_use(handle, state)
    data["resources_text"] = usage_text(data["resources"])
    try:
        data["outputs"] = handle.outputs()
    except KineticError:
        data["outputs"] = []
    return data


async def _info(request: web.Request) -> web.Response:
    index = request.app[INDEX]
    return web.json_response({"store": index.store, "backend": index.backend.name,
                              "can_retry": can_retry()})  # fmt: skip


async def _get(request: web.Request) -> web.Response:
    handle = await _handle(request)
    return web.json_response(await asyncio.to_thread(_details, handle))


async def _progress(request: web.Request) -> web.Response:
    handle = await _handle(request)
    state = await asyncio.to_thread(handle.state)
    return web.json_response({"status": state.status.value, "progress": state.progress})


async def _cancel(request: web.Request) -> web.Response:
    handle = await _handle(request)
    state = await asyncio.to_thread(handle.cancel, False)
    return web.json_response({"job_id": handle.job_id, "status": state.status.value})


async def _retry(request: web.Request) -> web.Response:
    handle = await _handle(request)
    if not can_retry():
        return web.json_response({"error": "retry is not available in this version"}, status=501)
    new = await asyncio.to_thread(handle.retry)
    return web.json_response({"job_id": new.job_id, "retry_of": handle.job_id})


async def _output(request: web.Request) -> web.Response:
    handle = await _handle(request)
    path = request.match_info["path"]
    names = await asyncio.to_thread(handle.outputs)
    if path not in names:  # only what the listing names: no path of our own making
        return web.json_response({"error": f"{handle.job_id} has no output {path}"}, status=404)
    attempt = await asyncio.to_thread(handle._attempt, None)
    key = f"{layout.output_prefix(handle.job_id, attempt)}/{path}"
    try:
        body = await asyncio.to_thread(handle._store.read_bytes, key)
    except ObjectNotFound:
        raise web.HTTPNotFound() from None
    filename = path.rsplit("/", 1)[-1].replace('"', "")
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return web.Response(body=body, content_type="application/octet-stream", headers=disposition)


# -- logs ---------------------------------------------------------------------------------------
def resume_point(last_event_id: str | None, attempt: str | None, offset: str | None):
    """(attempt or None for the current one, byte offset) a log stream starts from (pure)."""
    if last_event_id and ":" in last_event_id:
        number, _, at = last_event_id.partition(":")
        return int(number), int(at)
    return (int(attempt) if attempt else None), int(offset or 0)


async def _logs(request: web.Request) -> web.StreamResponse:
    handle = await _handle(request)
    q = request.query
    attempt, offset = resume_point(request.headers.get("Last-Event-ID"), q.get("attempt"),
                                   q.get("offset"))  # fmt: skip
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})  # fmt: skip
    await response.prepare(request)
    store = handle._store
    state = await asyncio.to_thread(handle.state)
    if attempt is None:
        attempt = max(1, state.attempts)
    read_to, pending = offset, b""  # bytes read but not sent: an unfinished line
    while True:
        state = await asyncio.to_thread(handle.state)
        moved_on = state.attempts > attempt
        finished = state.status.is_terminal or moved_on  # then everything is written
        prefix = layout.logs_prefix(handle.job_id, attempt)
        data, read_to = await asyncio.to_thread(store.read_log, prefix, read_to)
        pending += data
        cut = len(pending) if finished else pending.rfind(b"\n") + 1
        if cut:
            text, pending = pending[:cut], pending[cut:]
            event = {"text": text.decode("utf-8", errors="replace"), "attempt": attempt}
            await _send(response, f"{attempt}:{read_to - len(pending)}", "log", event)
        if moved_on:
            attempt, read_to, pending = state.attempts, 0, b""
            continue
        if finished:
            await _send(response, f"{attempt}:{read_to}", "end", {"status": state.status.value})
            return response
        if not data:
            await asyncio.sleep(LOG_POLL)


async def _send(response: web.StreamResponse, event_id: str, kind: str, data: dict) -> None:
    await response.write(f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode())
