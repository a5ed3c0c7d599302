"""Running the operator: ``kinetic operator run`` (or ``kopf run -m kinetic_operator``).

Where it sits: the CLI calls ``run``, which reads the operator's configuration once
(operator_settings.py) and starts kopf with it in the operator's memo; kopf then calls the
handlers (handlers.py) until interrupted.
"""

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

    from kinetic_operator import handlers  # noqa: F401 - importing handlers registers them
    from kinetic_operator.operator_settings import Settings

    # The heartbeat Lease says what is served: these namespaces, or all of them.
    settings = Settings.from_env(served=tuple(namespaces or ()))

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kinetic.operator").setLevel(logging.DEBUG if verbose else logging.INFO)
    # kopf says "Indexer ... succeeded" and "Handler ... succeeded" for every watch event of
    # every object, at INFO: six lines per event, eighteen thousand for a 1,000-item batch,
    # burying Kinetic's own decisions (kinetic.operator) and costing the operator a tenth of
    # its CPU while a batch starts. Failures are WARNING and above: still said.
    logging.getLogger("kopf.objects").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # --verbose logs decisions, not one line per HTTP request (thousands a second in a burst).
    logging.getLogger("urllib3").setLevel(logging.INFO)
    asyncio.run(
        kopf.operator(
            standalone=True,  # one replica; no peering objects to create or watch
            clusterwide=not namespaces,
            namespaces=namespaces or [],
            liveness_endpoint=liveness,
            memo=kopf.Memo(kinetic_settings=settings),
        )
    )
