"""Records kept as JSON in the store, read back by a Kinetic of another version (pure data).

A record written by a newer Kinetic may carry keys this one does not know: they are ignored
rather than refused, so an older client or operator still reads it. ``known_fields`` is that
rule for any dataclass; ``JsonRecord`` gives a flat dataclass its ``to_json``/``from_json``
(kinetic.model.batch_record, kinetic.model.workflow_record).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any, Self


def known_fields(cls: type, data: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The items of ``data`` that name a field of dataclass ``cls`` (less ``exclude``)."""
    known = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    return {k: v for k, v in data.items() if k in known}


class JsonRecord:
    """to_json/from_json for a dataclass whose fields are all JSON values."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Build one, ignoring keys a newer Kinetic may have added."""
        return cls(**known_fields(cls, json.loads(text)))
