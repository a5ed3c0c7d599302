"""Reading Kubernetes objects as plain dicts: times, conditions, phases, containers, and
what a pod's status says about why it ended. Pure helpers for ``reconcile``."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kinetic.k8s.names import LABEL_SPOT
from kinetic.model.reasons import Reason
from kinetic.model.status import format_time, parse_time

Obj = Mapping[str, Any]

DISRUPTION_REASONS = {  # DisruptionTarget condition reason → ours (module docstring)
    **dict.fromkeys(["PreemptionByScheduler", "PreemptionByKubeScheduler"], Reason.PREEMPTED),
    **dict.fromkeys(["DeletionByTaintManager"], Reason.PREEMPTED),
    **dict.fromkeys(["TerminationByKubelet", "EvictionByEvictionAPI"], Reason.EVICTED),
    "DeletionByPodGC": Reason.LOST,
}
POD_STATUS_REASONS = {  # pod status.reason (all versions) → ours
    **dict.fromkeys(["Evicted", "Shutdown", "Terminated", "NodeShutdown"], Reason.EVICTED),
    "NodeLost": Reason.LOST,
    "DeadlineExceeded": Reason.DEADLINE,
}


def time_of(value: Any) -> datetime | None:
    try:
        return parse_time(value) if value else None
    except (TypeError, ValueError, AttributeError):
        return None


def iso(value: Any) -> str | None:
    return format_time(time_of(value))


def meta(obj: Obj, key: str) -> Any:
    return (obj.get("metadata") or {}).get(key)


def phase_of(pod: Obj) -> str | None:
    return (pod.get("status") or {}).get("phase")


def condition(obj: Obj, kind: str, status: str = "True") -> Obj | None:
    """The object's last condition of this type, if it has this status."""
    conds = (obj.get("status") or {}).get("conditions") or []
    found = [c for c in conds if c.get("type") == kind]
    return found[-1] if found and found[-1].get("status") == status else None


def unschedulable(pod: Obj) -> Obj | None:
    return condition(pod, "PodScheduled", "False")


def disruption(pod: Obj) -> tuple[str, str | None] | None:
    """(reason, message) when the pod was pushed off its node rather than ending itself."""
    st = pod.get("status") or {}
    if (cond := condition(pod, "DisruptionTarget")) is not None:
        reason = DISRUPTION_REASONS.get(cond.get("reason") or "", Reason.EVICTED)
        message = (cond.get("message") or st.get("message") or "").strip() or None
    elif (pushed := POD_STATUS_REASONS.get(st.get("reason") or "")) is not None:
        reason, message = pushed, (st.get("message") or "").strip() or None
    else:
        return None
    if reason == Reason.EVICTED and _spot(pod) and _node_shutdown(st, message):
        reason = Reason.PREEMPTED  # a spot VM's node shutting down: the VM was reclaimed
    return reason, message


def _spot(pod: Obj) -> bool:
    return (meta(pod, "labels") or {}).get(LABEL_SPOT) == "true"


def _node_shutdown(status: Obj, message: str | None) -> bool:
    """The kubelet ended the pod because its node is shutting down (graceful node shutdown:
    status.reason ``Terminated``/``Shutdown``/``NodeShutdown``, or that message), not
    because the node ran short of a resource (``Evicted``)."""
    if status.get("reason") in ("Terminated", "Shutdown", "NodeShutdown"):
        return True
    return "node shutdown" in (message or "").lower()


def container_statuses(pod: Obj) -> list[tuple[bool, Obj]]:
    st = pod.get("status") or {}
    inits = [(True, cs) for cs in st.get("initContainerStatuses") or []]
    return inits + [(False, cs) for cs in st.get("containerStatuses") or []]


def deciding_container(pod: Obj) -> tuple[str | None, Obj]:
    """The container whose end explains the pod's: OOM first, then a failure, then any.
    A failed init container counts too (under restartPolicy Never it fails the pod)."""
    ended = [
        (f"{cs.get('name')}{' (init)' if init else ''}", term)
        for init, cs in container_statuses(pod)
        if (term := (cs.get("state") or {}).get("terminated"))
        and (not init or term.get("exitCode"))
    ]
    ended.sort(key=lambda item: item[0].endswith(" (init)"))  # app containers first
    for pick in (lambda t: t.get("reason") == Reason.OOM, lambda t: t.get("exitCode"), bool):
        for name, term in ended:
            if pick(term):
                return name, term
    return None, {}


def describe_exit(code: Any) -> str:
    if isinstance(code, int) and 128 < code < 160:  # 128+N: killed by signal N
        try:
            return f"{code}, {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return str(code)


def container_times(pod: Obj, key: str) -> list[datetime]:
    states = [
        s for _i, cs in container_statuses(pod) for s in (cs.get("state"), cs.get("lastState"))
    ]
    parts = [(s or {}).get(part) or {} for s in states for part in ("running", "terminated")]
    return [t for part in parts if (t := time_of(part.get(key)))]
