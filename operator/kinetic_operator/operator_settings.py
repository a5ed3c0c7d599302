"""The operator's configuration: read once when it starts, then passed to what needs it.

``kinetic operator run`` (main.py) builds ``Settings`` from its arguments and the
environment the Helm chart sets, and hands it to kopf in the operator's memo; the startup
handler (handlers.py) gives it to the ``Controller`` it creates. Nothing reads the
environment at import time, so importing the package has no side effects and a test can
build the settings it wants.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from kinetic.k8s.job_manifest import OperatorConfig

ENV_NAMESPACE = "KINETIC_OPERATOR_NAMESPACE"  # the chart sets it from the downward API
ENV_PROGRESS_LISTEN = "KINETIC_PROGRESS_LISTEN"  # host:port of the progress endpoint


@dataclass(frozen=True)
class Settings:
    """What one operator process is configured with.

    ``jobs``: how Jobs are built (image, accelerator labels, the file store's host path,
    the progress URL given to pods). ``namespace``: the operator's own namespace, where its
    heartbeat Lease and runtime table live (None when run by hand outside a cluster).
    ``served``: the namespaces watched, ``()`` for all; None when unknown (``kopf run``).
    ``progress_listen``: where the progress endpoint listens, None for no endpoint.
    """

    jobs: OperatorConfig = field(default_factory=OperatorConfig)
    namespace: str | None = None
    served: tuple[str, ...] | None = None
    progress_listen: str | None = None
    # A failed sync is tried again after 1 s, then twice as long each time, up to this.
    max_retry_delay: float = 60.0
    # At most one status write per job for progress reports in this many seconds.
    progress_write_interval: float = 2.0
    # A PENDING job's changes that keep it PENDING: written at most once in this many
    # seconds (status_settle.py), so a new job's burst of events costs one write, not three.
    status_settle_interval: float = 1.0
    # Memory freed by deleted jobs goes back to the system this long after (memory.py).
    memory_trim_delay: float = 30.0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, served: tuple[str, ...] | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        return cls(
            jobs=OperatorConfig.from_env(dict(env)),
            namespace=env.get(ENV_NAMESPACE) or None,
            served=served,
            progress_listen=env.get(ENV_PROGRESS_LISTEN) or None,
        )
