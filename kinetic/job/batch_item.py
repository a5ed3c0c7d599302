"""Inside a batch's item (job side): its function, stored once per batch, and its index.

An item's payload holds only its own arguments; its handle.json names the batch
(``{"id", "index"}``). The worker loads the batch's function here, checked against the
digest the item's record carries, before it calls it; ``kinetic.batch_index()`` then tells
the running code which input it was given.
"""

from __future__ import annotations

import os
from typing import Any

from kinetic.store import Store, layout
from kinetic.wire.framing import load_framed
from kinetic.wire.payload import Payload

INDEX_ENV = "KINETIC_BATCH_INDEX"


def attach_batch_function(store: Store, handle: dict[str, Any], payload: Payload) -> Payload:
    """The item's payload with the batch's function in it (unchanged for a plain job)."""
    batch = handle.get("batch")
    if not batch or payload.function is not None or payload.command:
        return payload
    payload.function = load_framed(
        store, layout.batch_function_key(batch["id"]), batch.get("function_sha256")
    )
    os.environ[INDEX_ENV] = str(int(batch["index"]))
    return payload


def batch_index() -> int | None:
    """In a batch's item: the index of its input (0-based); None in any other job."""
    value = os.environ.get(INDEX_ENV)
    return int(value) if value else None
