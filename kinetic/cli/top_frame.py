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
    from rich.text import Text

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
    # Each row is one styled line of fixed-width columns: a page of them draws in a few
    # milliseconds, where a rich Table measuring every cell took most of a frame.
    cells = [_row_cells(handle, state) for handle, state in page.rows]
    widths = [
        min(cap, max([len(name)] + [len(row[n][0]) for row in cells]))
        for n, (name, cap) in enumerate(COLUMNS)
    ]
    lines = [_line([(name, "bold") for name, _ in COLUMNS], widths)]
    for index, row in enumerate(cells):
        line = _line(row, widths)
        if index == view.selected:
            line.stylize("reverse")
        lines.append(line)
    if not page.rows:
        lines.append(Text("(no jobs)"))
    return Group(header, where, *lines, _bottom(view, LIST_KEYS))


# (name, widest it may get): the id is what a user copies, so it is never cut.
COLUMNS = [("id", 63), ("function", 24), ("status", 9), ("reason", 18), ("progress", 15),
           ("att", 3), ("age", 6), ("duration", 8)]  # fmt: skip


def _row_cells(handle: JobHandle, state: JobState) -> list[tuple[str, str | None]]:
    """A job's cells as (text, style) (pure)."""
    fraction = (state.progress or {}).get("fraction")
    bar = "-"
    if isinstance(fraction, int | float):
        fraction = min(1.0, max(0.0, float(fraction)))
        done = round(fraction * BAR_WIDTH)
        bar = "━" * done + "╺" * (BAR_WIDTH - done) + f" {fraction * 100:3.0f}%"
    return [
        (handle.job_id, None),
        (handle.func_name, None),
        (state.status.value, STYLES[state.status]),
        (state.reason or "-", None),
        (bar, "magenta" if bar != "-" else None),
        (str(state.attempts or "-"), None),
        (format_age(state.created), None),
        (format_seconds(state.duration), None),
    ]


def _line(cells: list[tuple[str, str | None]], widths: list[int]) -> Text:
    from rich.text import Text

    line = Text(no_wrap=True, overflow="ellipsis")
    for (text, style), width in zip(cells, widths, strict=True):
        shown = text if len(text) <= width else text[: width - 1] + "…"
        line.append(shown.ljust(width), style=style)
        line.append("  ")
    return line


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
