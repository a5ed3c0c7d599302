"""kopf's indexes of what the operator's watches show, by job, and how a sync reads them.

Where it sits: handlers.py declares the indexes and hands them to the Controller
(controller.py) as one ``Indexes``; the Controller and what it calls (end_messages.py)
read a job's latest KineticJob, and the Jobs or pods of one attempt, through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kinetic.k8s.job_manifest import attempt_of
from kinetic_operator.progress_server import PodRef
from kinetic_operator.state import Key


@dataclass(frozen=True)
class Indexes:
    """kopf's indexes (handlers.py): live views of what the watches show, by job. Each
    value holds the matching objects (several: every attempt has its own Job and pods)."""

    kineticjobs: Mapping[Key, Iterable[dict]]
    jobs: Mapping[Key, Iterable[dict]]
    pods: Mapping[Key, Iterable[dict]]
    pod_refs: Mapping[str, Iterable[PodRef]] = field(default_factory=dict)  # by pod uid
    # (namespace, job id) -> the names of the KineticJobs that depend on it (dependsOn).
    dependents: Mapping[Key, Iterable[str]] = field(default_factory=dict)
    # (namespace, batch id) -> its KineticBatch: a job may depend on a whole batch.
    batches: Mapping[Key, Iterable[dict]] = field(default_factory=dict)


def latest(index: Mapping[Key, Iterable[dict]], key: Key) -> dict | None:
    """The newest object an index holds for ``key`` (None if it holds none)."""
    found = list(index.get(key, []))
    return found[-1] if found else None


def of_attempt(index: Mapping[Key, Iterable[dict]], key: Key, attempt: int) -> list[dict]:
    """A job's Jobs or pods of one attempt (each retry has its own Job, kept as evidence)."""
    return [obj for obj in index.get(key, []) if attempt_of(obj) == attempt]
