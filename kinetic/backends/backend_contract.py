"""The contract a backend fulfils. Everything else (logs, results, outputs) is the store's."""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING

from kinetic.model.status import JobState

if TYPE_CHECKING:
    from kinetic.client.handle import JobHandle
    from kinetic.model.endpoint import Endpoint
    from kinetic.spec.job_spec import JobSpec
    from kinetic.wire.framing import Framed


class Backend(abc.ABC):
    name: str

    def check(self, spec: JobSpec) -> None:  # noqa: B027 - optional hook
        """Refuse, before anything is created, a spec this backend cannot honour."""

    def handle_fields(self, spec: JobSpec) -> dict:
        """Backend-specific fields recorded in the handle (e.g. the namespace)."""
        return {}

    @abc.abstractmethod
    def submit(self, handle: JobHandle, spec: JobSpec, payload: Framed) -> None:
        """Record the job durably and start it; return once it is started."""

    @abc.abstractmethod
    def state(self, handle: JobHandle) -> JobState: ...

    def states(self, handles: list[JobHandle]) -> list[JobState]:
        """Many jobs' states; backends override this when they can do it in bulk."""
        return [self.state(h) for h in handles]

    @abc.abstractmethod
    def cancel(
        self, handle: JobHandle, *, wait: bool = True, timeout: float | None = None
    ) -> JobState:
        """Stop the job (CANCELLED), keeping its artifacts."""

    def wait_stopped(self, handle: JobHandle, timeout: float | None, slack: float, poll: float):
        """After a cancel: wait for the end, by default the grace period plus ``slack``."""
        grace = float(handle.spec.get("grace_period", 30.0))
        deadline = time.monotonic() + (timeout if timeout is not None else grace + slack)
        while time.monotonic() < deadline:
            state = self.state(handle)
            if state.status.is_terminal:
                return state
            time.sleep(poll)
        return self.state(handle)

    @abc.abstractmethod
    def release(self, handle: JobHandle) -> None:
        """Delete what the job holds besides its store artifacts (processes, cluster objects)."""

    @abc.abstractmethod
    def endpoints(self, handle: JobHandle) -> dict[str, Endpoint]:
        """Where each of the job's ports is reachable, by port name."""

    def expected_result_sha256(self, handle: JobHandle, state: JobState) -> str | None:
        """The result digest an independent record vouches for, if the backend keeps one."""
        result = state.extra.get("result") or {}
        return result.get("sha256")
