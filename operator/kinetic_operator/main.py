"""Running the operator: ``kinetic operator run`` (or ``kopf run -m kinetic_operator``)."""

from __future__ import annotations

import asyncio
import logging


def run(
    namespaces: list[str] | None = None,
    *,
    liveness: str | None = None,
    verbose: bool = False,
) -> None:
    """Watch ``namespaces`` (all when empty) until interrupted."""
    import kopf

    from kinetic_operator import handlers, heartbeat  # noqa: F401 - importing handlers registers them

    heartbeat.configure(namespaces or [])  # the heartbeat Lease says what is served

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kinetic.operator").setLevel(logging.DEBUG if verbose else logging.INFO)
    asyncio.run(
        kopf.operator(
            standalone=True,  # one replica; no peering objects to create or watch
            clusterwide=not namespaces,
            namespaces=namespaces or [],
            liveness_endpoint=liveness,
        )
    )
