"""Inside the job: keeping one attempt's outputs, from the worker's start to its end.

kinetic.job.worker_run makes one per attempt once the worker is forked:
it runs the continuous sync (kinetic.job.output_sync) while the worker runs, notes which
files the worker is writing whenever it is about to be signalled (kinetic.job.open_files),
and sends what is left when it has ended — never a file it may have left half-written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kinetic.job.open_files import worker_running, writing_now
from kinetic.job.output_sync import FileStat, OutputSync, settle_seconds
from kinetic.model.spec_record import SpecRecord
from kinetic.spec.job_spec import DEFAULT_OUTPUT_SYNC
from kinetic.store import Store


class OutputKeeper:
    def __init__(
        self,
        store: Store,
        job_id: str,
        attempt: int,
        directory: Path,
        spec: SpecRecord,
        worker_pid: int,
        note: Callable[[str], None],
        restored: dict[str, FileStat],
    ):
        self.enabled = bool(spec.get("upload", True))
        self.interval = spec.get("output_sync", DEFAULT_OUTPUT_SYNC)
        self.pid, self.directory = worker_pid, directory
        self.sync = OutputSync(store, job_id, attempt, directory, self.interval, note,
                               stored=restored, writing=self.writing)  # fmt: skip
        if self.enabled:
            self.sync.start()

    def writing(self) -> set[str] | None:
        """What the worker holds open for writing; None once it has exited (a zombie, not
        yet reaped): then it is too late to tell what it was writing."""
        if not worker_running(self.pid):
            return None
        return writing_now(self.pid, self.directory)

    def before_signal(self) -> None:
        """Called just before the worker is stopped or killed."""
        if self.enabled:
            self.sync.mark_torn()

    def finish(self, status: int, stop_reason: str | None, interrupted: bool = False) -> str | None:
        """After the worker ended (``status`` as waitpid gives it): the last sync.
        ``interrupted``: the stop interrupted the function (see OutputSync.finish). Returns
        what could not be saved, if anything."""
        if not self.enabled:
            return None
        settle = 0.0
        if os.WIFSIGNALED(status) and stop_reason is None:
            # Killed by someone else (the kernel, a crash), unannounced: a file changed just
            # before may be cut short, so only quiet ones are sent; the others keep their
            # last synced version.
            settle = settle_seconds(self.interval or DEFAULT_OUTPUT_SYNC)
        # What changed after a signal of ours may be cut short: after the stop signal when
        # the function was interrupted (it does not stop by itself), after the kill when
        # it was killed. A job that stops by itself keeps what it saved on its way out.
        signals = self.sync.signalled_ns
        since = None
        if signals and interrupted:
            since = signals[0]
        elif signals and stop_reason is not None and os.WIFSIGNALED(status):
            since = signals[-1]
        return self.sync.finish((), settle, since)
