"""Inside the job: keep the output directory in the store while the job runs (``output_sync``).

The supervisor (kinetic.job.supervisor) starts an OutputSync beside the worker. Every
moment it scans KINETIC_OUTPUT_DIR and sends each file that changed since it was last
stored and has been quiet for a short settle time, so a checkpoint is in the store within
``output_sync`` seconds of its last write — before any kill can take it. Only changed files
are sent, each streamed (memory stays bounded whatever its size).

A stored file is always a complete version: a file still changing is not sent, and a send
during which the file changes is aborted before the store's object is replaced (the store
writes objects atomically, kinetic.store.store_contract), so the previous version stays.
When the worker has ended, ``finish`` sends what is left — except files the job was writing
when it was stopped or killed (the supervisor lists them, kinetic.job.open_files), which
keep their last synced version.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from kinetic.store import Store, layout


@dataclass(frozen=True)
class FileStat:
    """What says a file changed: its size, modification time and inode."""

    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class FileChanged(Exception):
    """The file changed while it was being sent: the send is abandoned."""


# A file's mtime comes from the kernel's coarse clock, up to a tick (1-10 ms) behind
# time.time_ns(): "changed after the signal" is judged with this margin (a file finished
# just before the signal keeps its previous version: never a cut one stored).
MTIME_SLACK_NS = 50_000_000


def settle_seconds(interval: float) -> float:
    """How long a file must be unchanged before it is sent: short against the interval, so a
    file arrives within ``interval`` of its last change. Short also because a file still
    held open for writing waits longer (``OutputSync.sync_once``)."""
    return min(1.0, interval / 10)


def scan_seconds(interval: float) -> float:
    return min(0.5, interval / 4)


def scan(directory: Path) -> dict[str, FileStat]:
    """Every regular file under ``directory`` (relative POSIX path → stat); links skipped:
    a link could point anywhere on this machine."""
    found: dict[str, FileStat] = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(root, name)
            with contextlib.suppress(OSError):  # gone since it was listed
                st = path.lstat()
                if path.is_symlink() or not path.is_file():
                    continue
                found[path.relative_to(directory).as_posix()] = FileStat.of(st)
    return found


def due(
    observed: dict[str, FileStat],
    stored: dict[str, FileStat],
    now_ns: int,
    settle: float,
    skip: Iterable[str] = (),
) -> list[str]:
    """The files to send now: changed since they were stored, quiet for ``settle`` seconds
    (``settle`` 0: every changed file), and not in ``skip``. Pure."""
    skipped = set(skip)
    quiet_before = now_ns - int(settle * 1e9)
    return sorted(
        rel
        for rel, st in observed.items()
        if stored.get(rel) != st and rel not in skipped and st.mtime_ns <= quiet_before
    )


class _SteadyReader:
    """Reads an open file for the store; raises FileChanged at its end if the file is not
    the one that was opened (other size, time or inode), so the upload is never finished."""

    def __init__(self, f, expected: FileStat):
        self._f, self._expected, self._read = f, expected, 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._read += len(data)
        if (not data or self._read >= self._expected.size) and self._changed():
            raise FileChanged("the file changed while it was being sent")
        return data

    def _changed(self) -> bool:
        now = FileStat.of(os.fstat(self._f.fileno()))
        return now != self._expected or self._read > self._expected.size

    def seekable(self) -> bool:  # a file still growing must not be sized in advance
        return False


def send(store: Store, key: str, path: Path, expected: FileStat | None = None) -> FileStat:
    """Store one complete version of ``path`` under ``key``: the one ``expected`` (as it
    was judged quiet) when given. FileChanged if the file is not that, or changes."""
    with path.open("rb") as f:
        found = FileStat.of(os.fstat(f.fileno()))
        if expected is not None and found != expected:
            raise FileChanged("the file changed since it was judged complete")
        store.upload(key, cast(BinaryIO, _SteadyReader(f, found)))  # it reads: all upload asks
    return found


class OutputSync:
    """Sends ``directory``'s changed files to the attempt's outputs, in a thread."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        attempt: int,
        directory: Path,
        interval: float | None,
        note: Callable[[str], None],
        stored: dict[str, FileStat] | None = None,
        writing: Callable[[], set[str] | None] = set,
    ):
        self.store, self.directory, self.interval, self.note = store, directory, interval, note
        self.prefix = layout.output_prefix(job_id, attempt)
        # What the store holds of each file (restored files count: they are there already).
        self.stored: dict[str, FileStat] = dict(stored or {})
        self.errors: dict[str, str] = {}
        # Files the job holds open for writing now; None once the job is not running (what
        # it held may then be cut short: a pass sends nothing until ``finish``).
        self.writing = writing
        self.torn: set[str] = set()  # being written when the job was signalled: kept as last synced
        self.signalled_ns: list[int] = []  # when the job was signalled (stopped, killed)
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time: the thread's or finish()'s
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval is None:
            return  # end-of-job copy only
        self._thread = threading.Thread(target=self._loop, name="output-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(scan_seconds(self.interval)):
            self.sync_once(settle_seconds(self.interval), open_settle=self.interval)

    def sync_once(
        self, settle: float, skip: Iterable[str] = (), open_settle: float | None = None
    ) -> int:
        """One pass: send what is due; returns how many were sent. With ``open_settle``, a
        file the job holds open for writing must have been quiet that long: a writer
        pausing mid-file must not have its half stored, while a log it appends to and
        keeps open is still sent between its lines."""
        with self._lock:
            observed = scan(self.directory)
            now = time.time_ns()
            skip = set(skip) | self.torn
            files = due(observed, self.stored, now, settle, skip)
            if files and open_settle is not None:
                still = set(due(observed, self.stored, now, open_settle, skip))
                held = self.writing()
                if held is None:
                    return 0
                files = [rel for rel in files if rel not in held or rel in still]
            count = 0
            for rel in files:
                try:
                    self.stored[rel] = send(
                        self.store, f"{self.prefix}/{rel}", self.directory / rel
                    )
                except FileChanged:
                    continue  # sent once it settles
                except FileNotFoundError:
                    continue  # removed meanwhile
                except Exception as exc:  # the store failed: tried again next pass
                    if rel not in self.errors:
                        self.note(f"output {rel} could not be synced yet: {exc}")
                    self.errors[rel] = str(exc)
                    continue
                self.errors.pop(rel, None)
                count += 1
            self.sent += count
            return count

    def mark_torn(self) -> None:
        """The job is about to be signalled: what it is writing now may be cut short, so it
        is sent no more (between passes, so none is sending it)."""
        with self._lock:
            self.signalled_ns.append(time.time_ns())  # before looking: a file opened since is newer
            self.torn |= self.writing() or set()

    def finish(
        self, torn: Iterable[str] = (), settle: float = 0.0, changed_since: int | None = None
    ) -> str | None:
        """After the worker ended: send every changed file but the ``torn`` ones (being
        written when the job was stopped), those changed at or after ``changed_since`` (ns:
        a file opened and truncated after the signal's look at the open files, then cut
        short, was not open when looked at) and, with ``settle``, those changed in its last
        seconds. Returns what could not be saved, if anything."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        cut = set(torn) | self.torn
        if changed_since is not None:
            since = changed_since - MTIME_SLACK_NS
            cut |= {rel for rel, st in scan(self.directory).items() if st.mtime_ns >= since}
        torn = sorted(cut)
        if torn:
            self.note(
                "kept the last synced version of files being written when the job was "
                f"stopped: {', '.join(torn)}"
            )
        self.errors.clear()
        self.sync_once(settle, skip=torn)
        if self.errors:
            rel, why = next(iter(self.errors.items()))
            return f"the job's outputs could not be saved ({rel}: {why})"
        return None
