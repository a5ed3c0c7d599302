"""What ``kinetic top`` draws: one frame from a page of jobs and the view's state (pure).

``top_commands`` reads the keys and the jobs; this module only turns them into rich
renderables, so a frame is the same on a terminal, in ``--once`` and in the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kinetic.cli.app import format_age, format_seconds
from kinetic.client.job_index import JobFilter, Page
from kinetic.model.status import JobState, JobStatus

if TYPE_CHECKING:
    from rich.console import RenderableType

    from kinetic.client.handle import JobHandle

STYLES = {
    JobStatus.PENDING: "yellow",
    JobStatus.RUNNING: "blue",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "bright_black",
    JobStatus.NOT_FOUND: "bright_black",
}
LIST_KEYS = "↑↓ select  enter open  n/p page  s status  / name  c cancel  {retry}q quit"
DETAIL_KEYS = "esc back  c cancel  {retry}q quit"


@dataclass(frozen=True)
class ViewState:
    """Where the viewer is: the filter, the page, the selected row, an open job, and a
    question or message on the bottom line."""

    keep: JobFilter = field(default_factory=JobFilter)
    offset: int = 0
    selected: int = 0
    open_job: str | None = None
    prompt: str = ""
    can_retry: bool = False
    asking: str | None = None  # "cancel" or "retry", awaiting y/n for ``target``
    target: str | None = None
    typing: str | None = None  # the name filter being typed after "/"


BAR_WIDTH = 10


def progress_cell(state: JobState) -> RenderableType:
    """A bar and a percentage when the job reports a fraction; "-" otherwise. Plain text
    with styles: a frame draws a page of these, so each must be cheap."""
    from rich.text import Text

    fraction = (state.progress or {}).get("fraction")
    if not isinstance(fraction, int | float):
        return "-"
    fraction = min(1.0, max(0.0, float(fraction)))
    done = round(fraction * BAR_WIDTH)
    cell = Text("━" * done, style="green" if fraction >= 1 else "magenta")
    cell.append("━" * (BAR_WIDTH - done), style="bright_black")
    cell.append(f" {fraction * 100:3.0f}%")
    return cell


def list_frame(page: Page, view: ViewState, title: str) -> RenderableType:
    """The job list: a header with the counts and filter, the rows, the keys."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    counts = "  ".join(
        f"[{STYLES[s]}]{s.value.lower()} {page.counts.get(s.value, 0)}[/]"
        for s in JobStatus
        if s != JobStatus.NOT_FOUND
    )
    shown = f"{page.offset + 1}-{page.offset + len(page.rows)}" if page.rows else "0"
    header = Text.from_markup(f"[bold]kinetic top[/] {title}   {counts}")
    wanted = _filter_text(view.keep)
    where = Text(f"jobs {shown} of {page.total}" + (f"   filter: {wanted}" if wanted else ""))
    table = Table(box=None, header_style="bold", expand=True, pad_edge=False)
    # The id is what a user copies: never cut; the other columns give way first.
    widest = max((len(handle.job_id) for handle, _ in page.rows), default=2)
    table.add_column("id", no_wrap=True, min_width=widest)
    table.add_column("function", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("status", no_wrap=True, min_width=9)
    for name in ("reason", "progress", "att", "age", "duration"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for index, (handle, state) in enumerate(page.rows):
        selected = index == view.selected
        table.add_row(
            handle.job_id,
            handle.func_name,
            Text(state.status.value, style=STYLES[state.status]),
            state.reason or "-",
            progress_cell(state),
            str(state.attempts or "-"),
            format_age(state.created),
            format_seconds(state.duration),
            style="reverse" if selected else None,
        )
    if not page.rows:
        table.add_row("(no jobs)", *[""] * 7)
    return Group(header, where, table, _bottom(view, LIST_KEYS))


def detail_frame(
    handle: JobHandle, state: JobState, log_tail: str, view: ViewState
) -> RenderableType:
    """One job: its state, attempts, progress and the tail of its log."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows: list[tuple[str, Any]] = [
        ("id", handle.job_id),
        ("function", handle.function),
        ("status", Text(state.status.value, style=STYLES[state.status])),
        ("reason", state.reason or "-"),
        ("message", (state.message or "-").splitlines()[0][:200] if state.message else "-"),
        ("progress", progress_cell(state)),
        ("created", format_age(state.created) + " ago" if state.created else "-"),
        ("duration", format_seconds(state.duration)),
        ("attempts", str(state.attempts or "-")),
    ]
    for record in state.previous_attempts:
        rows.append((f"attempt {record.get('attempt')}", _attempt_text(record)))
    if usage := resource_text(state):
        rows.append(("resources", usage))
    for name, value in rows:
        fields.add_row(name, value)
    logs = Panel(Text(log_tail.rstrip("\n") or "(no output yet)"), title="log (following)",
                 title_align="left")  # fmt: skip
    return Group(fields, logs, _bottom(view, DETAIL_KEYS))


def resource_text(state: JobState) -> str:
    """The job's peak memory and CPU time, when its runner recorded them (pure)."""
    from kinetic.client.resource_use import usage_text

    return usage_text(state.extra.get("resources"))


def _attempt_text(record: dict) -> str:
    text = str(record.get("reason") or "?")
    if record.get("message"):
        text += f": {str(record['message']).splitlines()[0][:120]}"
    return text


def _filter_text(keep: JobFilter) -> str:
    parts = []
    if keep.status is not None:
        parts.append(f"status={keep.status.value}")
    if keep.name:
        parts.append(f"name~{keep.name}")
    if keep.function:
        parts.append(f"function~{keep.function}")
    return " ".join(parts)


def _bottom(view: ViewState, keys: str) -> RenderableType:
    from rich.text import Text

    if view.prompt:
        return Text(view.prompt, style="bold yellow")
    return Text(keys.format(retry="r retry  " if view.can_retry else ""), style="dim")
