"""``kinetic top``: a full-screen view of the jobs that refreshes itself.

The loop: refresh the index (kinetic.client.job_index: one store listing plus the states
of unfinished jobs), draw a frame (kinetic.cli.top_frame), wait up to the refresh interval
for a key, act on it (kinetic.cli.top_keys decides, pure). ``--once`` draws one frame and
exits, for scripts and tests.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import click

from kinetic.cli.app import main, store_option
from kinetic.cli.top_frame import ViewState, detail_frame, list_frame
from kinetic.cli.top_keys import Action, on_key, read_keys
from kinetic.client.job_index import JobFilter, JobView, Page
from kinetic.client.listing import parse_status_filter
from kinetic.model.status import JobStatus

LOG_LINES = 15


@main.command()
@click.option("--status", type=click.Choice([s.value for s in JobStatus], case_sensitive=False),
              help="Only jobs with this status (key s cycles through them).")  # fmt: skip
@click.option("--name", default="", help="Only jobs whose id or name contains this (key /).")
@click.option("--function", default="", help="Only jobs whose function contains this.")
@click.option("--job", "job_id", help="Open this job's view (state, attempts, log tail).")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.5, show_default=True,
              help="Seconds between refreshes.")  # fmt: skip
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@click.option("--namespace", "-n", help="Kubernetes: this namespace (default: configured).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Kubernetes: every namespace.")
@store_option
def top(status, name, function, job_id, interval, once, namespace, all_namespaces, store) -> None:
    """A live view of the jobs: select one to follow it; cancel or retry from the keys."""
    index = JobView(store=store, namespace=namespace, all_namespaces=all_namespaces)
    view = ViewState(
        keep=JobFilter(parse_status_filter(status), name, function),
        open_job=job_id,
        can_retry=_can_retry(),
    )
    title = index.store if not index.own_listing else index.backend.name
    if once or not sys.stdin.isatty():
        from rich.console import Console

        index.refresh()
        Console().print(frame(index, view, title, rows_fitting(None))[0])
        return
    _run_live(index, view, title, interval)


def _can_retry() -> bool:
    from kinetic.client.handle import JobHandle

    return hasattr(JobHandle, "retry")


def rows_fitting(height: int | None) -> int:
    """Rows of jobs a screen of ``height`` lines holds (header, column names, keys: 4)."""
    return 50 if height is None else max(3, height - 4)


def frame(index: JobView, view: ViewState, title: str, rows: int):
    """The frame to draw and the page it shows (None in a job's view)."""
    if view.open_job is not None:
        found = index.find(view.open_job)
        if found is None:
            from kinetic.client.listing import attach

            handle = attach(view.open_job, index.store)
            state = handle.state()
        else:
            handle, state = found
        try:
            # What is left of the screen under the job's fields (~11 lines) and the keys.
            log_tail = handle.tail(max(3, min(LOG_LINES, rows - 12)))
        except Exception as exc:  # a view must keep drawing: say it instead
            log_tail = f"(logs unavailable: {exc})"
        return detail_frame(handle, state, log_tail, view), None
    page = index.page(view.keep, offset=view.offset, limit=rows)
    return list_frame(page, view, title), page


def _run_live(index: JobView, view: ViewState, title: str, interval: float) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with _cbreak(), Live(console=console, screen=True, auto_refresh=False) as live:
        next_refresh = 0.0
        page: Page | None = None
        while True:
            if time.monotonic() >= next_refresh:
                index.refresh()
                next_refresh = time.monotonic() + interval
            renderable, page = frame(index, view, title, rows_fitting(console.height))
            live.update(renderable, refresh=True)
            wait = max(0.0, next_refresh - time.monotonic())
            for key in read_keys(sys.stdin.fileno(), wait):
                view, action = on_key(view, key, page)
                if action is None:
                    continue
                if action.kind == "quit":
                    return
                view = _act(index, view, action)
                next_refresh = 0.0  # show what the action did at once


def _act(index: JobView, view: ViewState, action: Action) -> ViewState:
    """Carry out a confirmed cancel or retry; the bottom line says how it went."""
    from dataclasses import replace

    from kinetic.client.listing import attach

    try:
        handle = attach(action.job_id, index.store)
        if action.kind == "cancel":
            state = handle.cancel(wait=False)
            return replace(view, prompt=f"{action.job_id}: cancel requested ({state.status})")
        new = handle.retry()
        return replace(view, prompt=f"{action.job_id}: retried as {new.job_id}")
    except Exception as exc:  # shown, not raised: the view stays up
        return replace(view, prompt=f"{action.kind} {action.job_id} failed: {exc}")


@contextlib.contextmanager
def _cbreak() -> Iterator[None]:
    """Keys arrive one at a time, unechoed; the terminal is restored however we leave."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
