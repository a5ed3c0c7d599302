"""The contract a backend fulfils. Everything else (logs, results, outputs) is the store's."""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING, Any

from kinetic.model.errors import BackendError
from kinetic.model.status import JobState
from kinetic.spec.job_spec import DEFAULT_GRACE_PERIOD

if TYPE_CHECKING:
    from kinetic.model.endpoint import Endpoint
    from kinetic.model.job_record import JobRecord
    from kinetic.spec.job_spec import JobSpec
    from kinetic.wire.framing import Framed


class Backend(abc.ABC):
    name: str
    # Whether a digest outside the store vouches for every result this backend's jobs write
    # (the KineticJob's status). Then a result without one is refused unless the caller
    # opts out (see expected_result_sha256 and kinetic.client.results).
    vouches_for_results: bool = False

    def check(self, spec: JobSpec) -> None:  # noqa: B027 - optional hook
        """Refuse, before anything is created, a spec this backend cannot honour."""

    def handle_fields(self, spec: JobSpec) -> dict:
        """Backend-specific fields recorded in the handle (e.g. the namespace)."""
        return {}

    @abc.abstractmethod
    def submit(self, handle: JobRecord, spec: JobSpec, payload: Framed) -> None:
        """Record the job durably and start it; return once it is started."""

    @abc.abstractmethod
    def state(self, handle: JobRecord) -> JobState: ...

    def states(self, handles: list[JobRecord]) -> list[JobState]:
        """Many jobs' states; backends override this when they can do it in bulk."""
        return [self.state(h) for h in handles]

    @abc.abstractmethod
    def cancel(
        self, handle: JobRecord, *, wait: bool = True, timeout: float | None = None
    ) -> JobState:
        """Stop the job (CANCELLED), keeping its artifacts."""

    def wait_stopped(self, handle: JobRecord, timeout: float | None, slack: float, poll: float):
        """After a cancel: wait for the end, by default the grace period plus ``slack``."""
        grace = float(handle.spec.get("grace_period", DEFAULT_GRACE_PERIOD))
        deadline = time.monotonic() + (timeout if timeout is not None else grace + slack)
        while time.monotonic() < deadline:
            state = self.state(handle)
            if state.status.is_terminal:
                return state
            time.sleep(poll)
        return self.state(handle)

    @abc.abstractmethod
    def release(self, handle: JobRecord) -> None:
        """Delete what the job holds besides its store artifacts (processes, cluster objects)."""

    @abc.abstractmethod
    def endpoints(self, handle: JobRecord) -> dict[str, Endpoint]:
        """Where each of the job's ports is reachable, by port name."""

    def list_jobs(
        self, *, store: str, namespace: str | None = None, all_namespaces: bool = False
    ) -> list[tuple[JobRecord, JobState]]:
        """Jobs with their states, newest first, finished ones included. By default every
        job recorded in ``store`` (whichever backend ran it); a backend with a listing of its
        own (the cluster's KineticJobs) overrides this."""
        from kinetic.backends.store_listing import store_rows

        return store_rows(store)

    def session(self, handle: JobRecord) -> dict[str, Any]:
        """A running job's working directory and plain env (``{"cwd", "env"}``), for a shell
        opened beside it. Backends whose jobs run elsewhere reach them through exec."""
        raise BackendError(f"the {self.name} backend opens shells inside the job, not here")

    def expected_result_sha256(self, handle: JobRecord, state: JobState) -> str | None:
        """The result digest an independent record vouches for, if the backend keeps one
        (None: no record, e.g. it was deleted with the KineticJob)."""
        result = state.extra.get("result") or {}
        return result.get("sha256")
