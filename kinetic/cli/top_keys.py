"""``kinetic top``'s keys: reading one from the terminal, and what it does to the view.

``on_key`` is pure: (view, key, page) → (new view, action or None). Cancel and retry are
actions only once confirmed with "y"; any other key after the question drops it.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass, replace

from kinetic.cli.top_frame import ViewState
from kinetic.client.job_index import Page
from kinetic.model.status import JobStatus

# The status filter that "s" moves to next, from the current one (None: every status).
STATUS_CYCLE: list[JobStatus | None] = [
    None,
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
]
ESCAPES = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    "\x1b[5~": "pgup",
    "\x1b[6~": "pgdn",
    "\x1bOA": "up",
    "\x1bOB": "down",
}


@dataclass(frozen=True)
class Action:
    """Something the loop must do: "quit", or a confirmed "cancel"/"retry" of ``job_id``."""

    kind: str
    job_id: str = ""


def read_keys(fd: int, timeout: float) -> list[str]:
    """The keys typed (an arrow's escape sequence as "up"/"down"/…), waiting at most
    ``timeout`` for the first; several may arrive in one read."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return []
    return parse_keys(os.read(fd, 64).decode(errors="replace"))


def parse_keys(data: str) -> list[str]:
    """Keys from the bytes a terminal sent (pure)."""
    keys = []
    while data:
        sequence = next((s for s in ESCAPES if data.startswith(s)), None)
        if sequence is not None:
            keys.append(ESCAPES[sequence])
            data = data[len(sequence) :]
            continue
        char, data = data[0], data[1:]
        if char == "\x1b" and data.startswith(("[", "O")):  # an escape we do not use
            while data and not data[0].isalpha() and data[0] != "~":
                data = data[1:]
            data = data[1:]
            continue
        names = {"\r": "enter", "\n": "enter", "\x1b": "esc", "\x7f": "backspace",
                 "\x08": "backspace"}  # fmt: skip
        keys.append(names.get(char, char))
    return keys


def on_key(view: ViewState, key: str, page: Page | None) -> tuple[ViewState, Action | None]:
    """What ``key`` does to ``view`` (pure); ``page`` is the list on screen (None in a job's
    view)."""
    if view.asking is not None:
        if key.lower() == "y" and view.target:
            return replace(view, asking=None, target=None, prompt=""), Action(
                view.asking, view.target
            )
        return replace(view, asking=None, target=None, prompt=f"{view.asking}: not done"), None
    if view.typing is not None:
        return _typing(view, key), None
    view = replace(view, prompt="")
    if key == "q":
        return view, Action("quit")
    selected = _selected_id(view, page)
    if key in ("c", "r") and selected:
        if key == "r" and not view.can_retry:
            return replace(view, prompt="retry is not available in this version"), None
        verb = "cancel" if key == "c" else "retry"
        question = f"{verb} {selected}? [y/N]"
        return replace(view, asking=verb, target=selected, prompt=question), None
    if view.open_job is not None:
        if key in ("esc", "backspace", "left"):
            return replace(view, open_job=None), None
        return view, None
    return _list_key(view, key, page), None


def _list_key(view: ViewState, key: str, page: Page | None) -> ViewState:
    shown = len(page.rows) if page else 0
    total = page.total if page else 0
    limit = page.limit if page else 1
    if key in ("down", "j"):
        if view.selected + 1 < shown:
            return replace(view, selected=view.selected + 1)
        if view.offset + shown < total:  # past the last row: the next page
            return replace(view, offset=view.offset + limit, selected=0)
    elif key in ("up", "k"):
        if view.selected > 0:
            return replace(view, selected=view.selected - 1)
        if view.offset > 0:
            return replace(view, offset=max(0, view.offset - limit), selected=limit - 1)
    elif key in ("n", "pgdn", " "):
        if view.offset + limit < total:
            return replace(view, offset=view.offset + limit, selected=0)
    elif key in ("p", "pgup"):
        return replace(view, offset=max(0, view.offset - limit), selected=0)
    elif key == "enter" and page and page.rows:
        return replace(view, open_job=page.rows[min(view.selected, shown - 1)][0].job_id)
    elif key == "s":
        now = STATUS_CYCLE.index(view.keep.status) if view.keep.status in STATUS_CYCLE else 0
        status = STATUS_CYCLE[(now + 1) % len(STATUS_CYCLE)]
        return replace(view, keep=replace(view.keep, status=status), offset=0, selected=0)
    elif key == "/":
        return replace(view, typing=view.keep.name, prompt=f"name: {view.keep.name}")
    return view


def _typing(view: ViewState, key: str) -> ViewState:
    """The name filter being typed: enter applies it, esc drops the edit."""
    text = view.typing or ""
    if key == "enter":
        keep = replace(view.keep, name=text)
        return replace(view, keep=keep, typing=None, prompt="", offset=0, selected=0)
    if key == "esc":
        return replace(view, typing=None, prompt="")
    if key == "backspace":
        text = text[:-1]
    elif len(key) == 1 and key.isprintable():
        text += key
    return replace(view, typing=text, prompt=f"name: {text}")


def _selected_id(view: ViewState, page: Page | None) -> str | None:
    if view.open_job is not None:
        return view.open_job
    if page is None or not page.rows:
        return None
    return page.rows[min(view.selected, len(page.rows) - 1)][0].job_id
