"""notify= on a retry: the original job's URLs carried over to the new job.

Where it sits: ``kinetic.client.job_retry.retry`` asks ``plan_carry`` what to do with a
finished job's notify URLs when the retry is not given ``notify=`` again. The URLs are
secrets and were never stored in clear, so they are found where each backend kept them:

* local (and SLURM): this machine's private copy (kinetic.system.notify_keep), which the
  local backend wrote when it started the original's runner; they become the retry's
  ``notify=`` as if given again;
* kubernetes: the original's Secret, which the user's role may create but not read — so
  the client never sees them: the retry's KineticJob names the original in
  ``spec.notify.urlsFrom`` and the operator copies the URLs into the retry's own Secret
  when it starts it (kinetic_operator.notifier.carry_urls).

When they cannot be found (another machine submitted it, it was cleaned up, its
KineticJob — and with it its Secret — was deleted) the retry goes on without them and
says so: ``NotifyNotCarried``, a warning that ``kinetic jobs retry`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinetic.model.job_record import JobRecord
from kinetic.model.status import JobStatus
from kinetic.system import notify_keep


class NotifyNotCarried(UserWarning):
    """The original's notify URLs could not be carried over to its retry."""


@dataclass(frozen=True)
class NotifyCarry:
    urls: tuple[str, ...] = ()  # the retry's notify= (local, SLURM)
    urls_from: str | None = None  # the job whose Secret holds them (kubernetes)
    hosts: tuple[str, ...] = ()  # what the retry's records show
    note: str | None = None  # why nothing was carried, for the retry's output


def plan_carry(original: JobRecord, backend: str, overrides: dict[str, Any]) -> NotifyCarry:
    """What the retry of ``original`` on ``backend`` gets of its notify URLs."""
    hosts = tuple(original.spec.get("notify_hosts") or ())
    if "notify" in overrides or not hosts:
        return NotifyCarry()  # given again, or none to carry
    if original.backend == "kubernetes" and backend == "kubernetes":
        from kinetic.backends import get_backend

        if get_backend("kubernetes").state(original).status == JobStatus.NOT_FOUND:
            return NotifyCarry(note=_not_carried(original, "its KineticJob, and with it the "
                                                 "Secret that held them, was deleted"))  # fmt: skip
        return NotifyCarry(urls_from=original.job_id, hosts=hosts)
    if original.backend != "kubernetes" and backend != "kubernetes":
        urls = notify_keep.kept(original.store, original.job_id)
        if urls:
            return NotifyCarry(urls=urls, hosts=hosts)
        why = "this machine keeps none for it (submitted from another machine, or cleaned up)"
        return NotifyCarry(note=_not_carried(original, why))
    why = f"they are kept by its backend ({original.backend}), not {backend}'s"
    return NotifyCarry(note=_not_carried(original, why))


def _not_carried(original: JobRecord, why: str) -> str:
    hosts = ", ".join(original.spec.get("notify_hosts") or ())
    return (
        f"the notify URLs of {original.job_id} ({hosts}) were not carried over: {why}; "
        "the retry notifies the config file's default, if any (give notify= / --notify again)"
    )
