"""Finding batches again: one by its id (``kinetic.attach_batch``), or every one in a store.

Where it sits: ``f.run_async_map`` (batch_submit.py) writes a batch's batch.json; any
process that reaches the store reads it back here (the façade, ``kinetic batches``, the
dashboard, ``kinetic jobs tree``) and gets a BatchHandle (batch_handle.py), which reads
everything else when asked.
"""

from __future__ import annotations

from kinetic.client import batch_dispatch
from kinetic.client.batch_handle import BatchHandle
from kinetic.model.batch_record import BatchRecord
from kinetic.model.errors import JobNotFoundError
from kinetic.spec import settings
from kinetic.store import ObjectNotFound, layout, open_store


def load_batch(batch_id: str, store: str | None = None) -> BatchRecord:
    """A batch's record (batch.json); JobNotFoundError if the store has no such batch."""
    layout.validate_batch_id(batch_id)
    uri = settings.resolve("store", store).value
    st = open_store(uri)
    try:
        return BatchRecord.from_json(st.read_bytes(layout.batch_key(batch_id)))
    except ObjectNotFound:
        raise JobNotFoundError(batch_id, f"{st.uri} (no such batch)") from None


def attach_batch(batch_id: str, store: str | None = None) -> BatchHandle:
    """A handle for an existing batch, from any process that reaches its store; a batch
    whose driver died with work left gets a new one."""
    handle = BatchHandle(load_batch(batch_id, store))
    batch_dispatch.keep_driving(handle)
    return handle


def list_batches(store: str | None = None) -> list[BatchHandle]:
    """Every batch recorded in the store, newest first."""
    st = open_store(settings.resolve("store", store).value)
    found = []
    for batch_id in st.list_children(layout.BATCHES):
        try:
            found.append(
                BatchHandle(BatchRecord.from_json(st.read_bytes(layout.batch_key(batch_id))))
            )
        except (ObjectNotFound, ValueError):
            continue  # being submitted (not committed yet) or cleaned up right now
    found.sort(key=lambda b: b.record.created, reverse=True)
    return found
