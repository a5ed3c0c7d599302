"""LogSink: appends a job's output to its log in the store as it is produced.

On a local store every write lands at once. On a remote store, writes are batched and
flushed at least every ``interval`` seconds while output flows (each flush is one new
chunk object; nothing is rewritten), so a follower sees a line within about a second
without one request per line.
"""

from __future__ import annotations

import threading
import time

from kinetic.store.store_contract import Store

MAX_BUFFER = 4 * 1024 * 1024


class LogSink:
    def __init__(self, store: Store, prefix: str, interval: float = 0.0, offset: int = 0):
        self.store, self.prefix, self.interval = store, prefix, interval
        self.offset = offset
        self._buffer = bytearray()
        self._lock = threading.Lock()  # serialises flushes: chunks must land in order
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        if interval > 0:
            self._flusher = threading.Thread(target=self._flush_periodically, daemon=True)
            self._flusher.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data
            if self.interval <= 0 or len(self._buffer) >= MAX_BUFFER:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self.store.append_log(self.prefix, self.offset, data)
        self.offset += len(data)
        self._buffer.clear()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(self.interval):
            try:
                self.flush()
            except Exception:
                time.sleep(self.interval)  # kept in the buffer; the next flush retries

    def close(self) -> None:
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self.flush()
