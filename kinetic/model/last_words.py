"""A runner's last words: its terminal record, as a line on its stderr, for when the store
refuses to take it.

The local runner's stderr is a file on this machine (kinetic.backends.local names it), so a
job whose store turned read-only or full still gets its outcome: the runner
(kinetic.job.records) writes the record there as its last line, and the status check that
finds the runner gone (kinetic.backends.local) takes it from there instead of saying Lost.
"""

from __future__ import annotations

import json
from typing import Any

MARK = "[kinetic] final record: "


def format_last_words(record: dict[str, Any]) -> str:
    return MARK + json.dumps(record) + "\n"


def parse_last_words(text: str) -> dict[str, Any] | None:
    """The last final record in ``text`` (a runner's stderr), or None."""
    at = text.rfind(MARK)
    if at < 0:
        return None
    line = text[at + len(MARK) :].split("\n", 1)[0]
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "status" in record else None
