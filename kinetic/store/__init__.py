"""Stores: where jobs' artifacts live, addressed by URI (``file://…`` or ``gs://bucket/prefix``)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from kinetic.model.errors import SpecError
from kinetic.store.store_contract import Digest, ObjectInfo, ObjectNotFound, Store

__all__ = [
    "Digest",
    "ObjectInfo",
    "ObjectNotFound",
    "Store",
    "forget_stores",
    "normalize_uri",
    "open_store",
]

ACCEPTED = "a store URI: file:///absolute/path, a local path, or gs://bucket[/prefix]"


def normalize_uri(uri: str | os.PathLike[str]) -> str:
    """The canonical form of a store URI; raises SpecError for what cannot be a store."""
    text = os.fspath(uri).strip()
    if not text:
        raise SpecError("store", uri, ACCEPTED)
    if text.startswith("gs:"):
        from kinetic.store.gcs import parse_gs_uri

        bucket, prefix = parse_gs_uri(text)
        return f"gs://{bucket}/{prefix}".rstrip("/")
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise SpecError("store", uri, "file:// URIs must name a local path (file:///path)")
        path = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise SpecError("store", uri, ACCEPTED)
    else:
        path = Path(text)
    return path.expanduser().resolve().as_uri()


@functools.lru_cache(maxsize=32)
def _open(uri: str) -> Store:
    if uri.startswith("gs://"):
        from kinetic.store.gcs import GCSStore

        return GCSStore(uri)
    from kinetic.store.file_store import LocalStore

    return LocalStore(Path(unquote(urlparse(uri).path)))


def open_store(uri: str | os.PathLike[str]) -> Store:
    """The store at ``uri``; one instance (and one client) per URI per process."""
    return _open_as_given(os.fspath(uri))


@functools.lru_cache(maxsize=64)
def _open_as_given(uri: str) -> Store:
    # Normalizing resolves paths, which is slow enough to matter when listing many jobs.
    return _open(normalize_uri(uri))


def forget_stores() -> None:
    """Drop cached stores and their clients (after fork(): connections are not shareable)."""
    _open_as_given.cache_clear()
    _open.cache_clear()
