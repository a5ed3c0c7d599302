"""How a job shows itself to a person: a handle's HTML in Jupyter, and the live line that
``result()`` and ``wait()`` keep while they block (status, elapsed time, the job's
``report_progress``).

The caller's side only (client layer); JobHandle calls it. The live display is on where
someone is watching (a Jupyter kernel, or stderr on a terminal), off otherwise (scripts,
pipes, CI logs), and gone when the wait ends.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from kinetic.model.status import JobState, JobStatus

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle

DISPLAY_EVERY = 0.5  # seconds between redraws of a live display

_COLOURS = {
    JobStatus.PENDING: "#9a6700",
    JobStatus.RUNNING: "#0969da",
    JobStatus.SUCCEEDED: "#1a7f37",
    JobStatus.FAILED: "#cf222e",
    JobStatus.CANCELLED: "#6e7781",
    JobStatus.NOT_FOUND: "#6e7781",
}


def status_line(job_id: str, state: JobState, elapsed: float) -> str:
    """One line: "job-x RUNNING 1m5s 40% epoch 4/10" (pure)."""
    parts = [job_id, state.status.value]
    if state.reason and state.status != JobStatus.RUNNING:
        parts.append(f"({state.reason})")
    parts.append(_seconds(elapsed))
    progress = state.progress or {}
    if isinstance(progress.get("fraction"), int | float):
        parts.append(f"{progress['fraction'] * 100:.0f}%")
    if progress.get("message"):
        parts.append(str(progress["message"])[:80])
    return " ".join(parts)


def handle_html(handle: JobHandle) -> str:
    """A handle as Jupyter shows it: id, function and its state now."""
    try:
        state = handle.state()
    except Exception as exc:  # a display must not raise: say what went wrong instead
        return f"<code>{html.escape(repr(handle))}</code>: <i>{html.escape(str(exc))}</i>"
    return _state_html(handle.job_id, handle.func_name, state, state.duration)


def _state_html(job_id: str, func: str, state: JobState, elapsed: float | None) -> str:
    colour = _COLOURS.get(state.status, "inherit")
    rows = [
        ("job", f"<code>{html.escape(job_id)}</code>"),
        ("function", html.escape(func)),
        ("status", f'<b style="color:{colour}">{state.status.value}</b>'
                   + (f" ({html.escape(state.reason)})" if state.reason else "")),
    ]  # fmt: skip
    if state.message:
        rows.append(("message", html.escape(state.message[:300])))
    if elapsed is not None:
        rows.append(("elapsed", _seconds(elapsed)))
    progress = state.progress or {}
    if isinstance(progress.get("fraction"), int | float):
        pct = progress["fraction"] * 100
        text = html.escape(str(progress.get("message") or ""))
        rows.append(("progress", f'<progress value="{pct:.0f}" max="100"></progress> '
                                 f"{pct:.0f}% {text}"))  # fmt: skip
    body = "".join(
        f'<tr><th style="text-align:left">{k}</th><td style="text-align:left">{v}</td></tr>'
        for k, v in rows
    )
    return f"<table>{body}</table>"


def _seconds(value: float) -> str:
    total = int(value)
    minutes, seconds = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


class LiveDisplay(Protocol):
    def update(self, state: JobState) -> None: ...
    def close(self) -> None: ...


class _Off:
    def update(self, state: JobState) -> None:
        pass

    def close(self) -> None:
        pass


class _Terminal:
    """One line on stderr, rewritten in place, erased at the end."""

    def __init__(self, job_id: str, stream: Any) -> None:
        self.job_id, self.stream, self.start = job_id, stream, time.monotonic()
        self.shown = False

    def update(self, state: JobState) -> None:
        line = status_line(self.job_id, state, time.monotonic() - self.start)
        self.stream.write(f"\r\x1b[2K[kinetic] {line}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


class _Jupyter:
    """An output area updated in place, emptied at the end."""

    def __init__(self, job_id: str, func: str) -> None:
        self.job_id, self.func, self.start = job_id, func, time.monotonic()
        self.handle: Any = None

    def update(self, state: JobState) -> None:
        from IPython.display import HTML, display

        shown = HTML(_state_html(self.job_id, self.func, state, time.monotonic() - self.start))
        if self.handle is None:
            self.handle = display(shown, display_id=True)
        else:
            self.handle.update(shown)

    def close(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(""))


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (not a plain IPython terminal)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def live_display(handle: JobHandle, wanted: bool | None = None) -> LiveDisplay:
    """The live display for a wait on ``handle``: Jupyter's, a terminal's, or none.

    ``wanted``: None decides (someone watches: Jupyter, or stderr a terminal; and only the
    main thread, so threads waiting together do not fight over one line), True forces it
    where it can be drawn, False turns it off."""
    if wanted is False:
        return _Off()
    if wanted is None and threading.current_thread() is not threading.main_thread():
        return _Off()
    if in_jupyter():
        return _Throttled(_Jupyter(handle.job_id, handle.func_name))
    stream = sys.stderr
    if stream is not None and (wanted or (hasattr(stream, "isatty") and stream.isatty())):
        return _Throttled(_Terminal(handle.job_id, stream))
    return _Off()


class _Throttled:
    """Redraws at most every DISPLAY_EVERY seconds: waits poll far more often than that."""

    def __init__(self, inner: LiveDisplay) -> None:
        self.inner, self.last = inner, -DISPLAY_EVERY

    def update(self, state: JobState) -> None:
        if time.monotonic() - self.last >= DISPLAY_EVERY:
            self.inner.update(state)
            self.last = time.monotonic()

    def close(self) -> None:
        self.inner.close()
