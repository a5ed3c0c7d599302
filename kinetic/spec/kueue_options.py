"""queue= and priority_class=: a Kubernetes job admitted by Kueue (docs/kubernetes.md#kueue).

Where it sits: JobSpec calls these checks; the KineticJob carries the values
(kinetic.k8s.kineticjob) and the operator's Job gets Kueue's labels, suspended until Kueue
admits it (kinetic.k8s.kueue). The names are Kubernetes object names: a LocalQueue in the
job's namespace, a WorkloadPriorityClass; whether they exist is ``kinetic doctor``'s.
"""

from __future__ import annotations

import re

from kinetic.model.errors import SpecError

# Label values (Kueue reads both from the Job's labels): at most 63 characters.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?\Z")


def check_queue(value: object) -> str | None:
    """A Kueue LocalQueue's name, or None (no Kueue)."""
    return _check_name("queue", value, "a Kueue LocalQueue name (lowercase RFC 1123, ≤ 63)")


def check_priority_class(value: object, queue: str | None) -> str | None:
    """A Kueue WorkloadPriorityClass's name; only with a queue (Kueue reads it)."""
    name = _check_name(
        "priority_class", value, "a Kueue WorkloadPriorityClass name (lowercase RFC 1123, ≤ 63)"
    )
    if name is not None and queue is None:
        raise SpecError("priority_class", name, "a queue= too (Kueue applies the priority)")
    return name


def _check_name(option: str, value: object, accepted: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value):
        raise SpecError(option, value, accepted)
    return value
