"""``kinetic envs``: the cached job environments (requirements=), on this machine and in a
store. Where it sits: the CLI calls it; the environments themselves are built by the job
(kinetic.job.environment) into this machine's cache (kinetic.system.env_cache) and, on
Kubernetes, packed into the store (``envs/KEY/env.tar.gz`` and its ``env.json``)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from kinetic.model.errors import JobNotFoundError, SpecError
from kinetic.model.status import parse_time
from kinetic.store import layout, open_store
from kinetic.system import env_cache

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '45s', '2w' -> seconds. Pure."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not match:
        raise SpecError("older_than", text, "a number and a unit: 45s, 90m, 12h, 30d, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def list_environments(store_uri: str | None) -> list[dict[str, Any]]:
    """This machine's cache, then the store's packed environments."""
    rows = [{"where": "local", **e.to_dict()} for e in env_cache.entries(env_cache.cache_root())]
    if store_uri:
        rows += _stored(store_uri)
    return rows


def _stored(store_uri: str) -> list[dict[str, Any]]:
    store = open_store(store_uri)
    rows = []
    for env_key in store.list_children(layout.ENVS):
        if env_key == layout.ENV_LOCKS:
            continue
        sizes = {o.key: o.size for o in store.list(layout.env_prefix(env_key))}
        archive = layout.env_archive_key(env_key)
        if archive not in sizes:
            continue  # being published
        try:
            meta = json.loads(store.read_bytes(layout.env_meta_key(env_key)))
        except Exception:
            meta = {}
        created = parse_time(meta.get("created"))
        used = created.timestamp() if created else 0.0
        rows.append({"where": "store", **meta, "key": env_key, "size": sizes[archive],
                     "last_used": used, "path": f"{store.uri}/{archive}"})  # fmt: skip
    return rows


def find_environment(rows: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The rows whose key starts with ``prefix`` (its copies here and in the store)."""
    found = [r for r in rows if r["key"].startswith(prefix)]
    if not found or len({r["key"] for r in found}) > 1:
        what = "no environment" if not found else "more than one environment"
        raise JobNotFoundError(prefix, f"the environment cache ({what} matches)")
    return found


def prune(store_uri: str | None, older_than: float | None) -> list[dict[str, Any]]:
    """Remove environments unused for ``older_than`` seconds (all: None); returns them.
    A store's copy goes by when it was built (the store does not see its uses)."""
    now = time.time()
    removed = []
    root = env_cache.cache_root()
    for entry in env_cache.stale(env_cache.entries(root), older_than, now):
        env_cache.remove(root, entry.key)
        removed.append({"where": "local", **entry.to_dict()})
    if store_uri:
        store = open_store(store_uri)
        for row in _stored(store_uri):
            if older_than is None or now - row["last_used"] > older_than:
                store.delete_prefix(layout.env_prefix(row["key"]))
                removed.append(row)
    return removed
