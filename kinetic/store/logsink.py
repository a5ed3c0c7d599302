"""LogSink: appends a job's output to its log in the store as it is produced.

Used by the runner (kinetic.job.supervisor), which feeds it everything the job prints. On a
local store every write lands at once. On a remote store, writes are batched and flushed at
least every ``interval`` seconds while output flows (each flush is one new chunk object;
nothing is rewritten), so a follower sees a line within about a second without one request
per line.

A store that refuses writes (read-only, full, unreachable) never stops the job: the sink
keeps at most ``MAX_BUFFER`` bytes (the newest), retries with backoff, and when the store
takes writes again it first writes a line saying how many bytes were dropped meanwhile.
"""

from __future__ import annotations

import threading
import time

from kinetic.store.store_contract import Store

MAX_BUFFER = 4 * 1024 * 1024
RETRY_FIRST, RETRY_MOST = 0.5, 10.0  # backoff between attempts while the store refuses


class LogSink:
    def __init__(
        self,
        store: Store,
        prefix: str,
        interval: float = 0.0,
        offset: int = 0,
        max_buffer: int = MAX_BUFFER,
    ):
        self.store, self.prefix, self.interval = store, prefix, interval
        self.max_buffer = max_buffer
        self.offset = offset
        self.dropped = 0  # bytes of output thrown away while the store refused them
        self.error: Exception | None = None  # the store's last refusal, while it lasts
        self._unreported = 0  # dropped bytes the log does not yet say were dropped
        self._buffer = bytearray()
        self._lock = threading.Lock()  # serialises flushes: chunks must land in order
        self._closed = threading.Event()
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST
        self._flusher: threading.Thread | None = None
        if interval > 0:
            self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_periodically, daemon=True)
            self._flusher.start()

    def write(self, data: bytes) -> None:
        """Take the job's output; never raises for the store's sake (see ``error``)."""
        with self._lock:
            self._buffer += data
            if len(self._buffer) > self.max_buffer:  # keep the newest: the end says how it ended
                cut = len(self._buffer) - self.max_buffer
                del self._buffer[:cut]
                self.dropped += cut
                self._unreported += cut
            flush_now = self.interval <= 0 or len(self._buffer) >= self.max_buffer
            if flush_now and time.monotonic() >= self._retry_at:
                self._try_flush_locked()
        if self.error is not None:
            self._start_flusher()  # retries on its own, even if the job prints nothing more

    def _try_flush_locked(self) -> bool:
        try:
            self._flush_locked()
        except Exception as exc:
            self.error = exc
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RETRY_MOST)
            return False
        self.error, self._backoff, self._retry_at = None, RETRY_FIRST, 0.0
        return True

    def _flush_locked(self) -> None:
        if self._unreported:
            note = (
                f"[kinetic] {self._unreported} bytes of output were dropped here: the store "
                f"refused writes for a while (the newest {self.max_buffer} bytes were kept)\n"
            ).encode()
            self.store.append_log(self.prefix, self.offset, note)
            self.offset += len(note)
            self._unreported = 0
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self.store.append_log(self.prefix, self.offset, data)
        self.offset += len(data)
        self._buffer.clear()

    def flush(self) -> bool:
        """Write what is buffered now; False if the store refused (it stays buffered)."""
        with self._lock:
            return self._try_flush_locked()

    def _flush_periodically(self) -> None:
        period = self.interval if self.interval > 0 else RETRY_FIRST
        while not self._closed.wait(period):
            if time.monotonic() >= self._retry_at:
                self.flush()

    def close(self, patience: float = 0.0) -> bool:
        """Flush what is left, trying for up to ``patience`` seconds if the store refuses.

        True if the whole log is in the store; never raises."""
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
            self._flusher = None
        deadline = time.monotonic() + patience
        while not self.flush():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._backoff, left))
        return True

    def unsaved(self) -> bytes:
        """The output the store has not taken (the newest MAX_BUFFER bytes of it)."""
        with self._lock:
            return bytes(self._buffer)

    @property
    def pending(self) -> int:
        """Bytes of output not yet in the store."""
        return len(self._buffer)
