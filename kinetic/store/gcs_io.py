"""Streaming helpers for the ``gs://`` store: digests, stream adapters and the progress bar.

Transfers never hold a whole object: uploads read one resumable chunk at a time, downloads
write each piece as it arrives. SHA-256 (and CRC32C, to check the object GCS stored) are
computed on the fly, without copying the data.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO, TextIO

from kinetic.store.store_contract import Digest

if TYPE_CHECKING:
    import requests
    from google.api_core.retry import Retry
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

BLOCK = 4 * 1024 * 1024
DOWNLOAD_BLOCK = 1024 * 1024
PROGRESS_THRESHOLD = 10 * 1000 * 1000  # "over 10 MB"


class StreamDigest:
    """SHA-256 and CRC32C of a stream fed in order.

    Small pieces (download blocks) are hashed inline: both hashes run at GB/s, so that
    costs less than handing them to a thread. Big blocks (upload chunks) go to a helper
    thread, without a copy, so hashing one chunk overlaps sending it (hashlib releases
    the GIL). Once the thread runs, every piece goes through it, to keep the order.
    """

    def __init__(self) -> None:
        import google_crc32c

        self._sha = hashlib.sha256()
        self._crc = google_crc32c.Checksum()
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self._queue is None and len(data) < BLOCK:
            self._hash(data)
            return
        if self._queue is None:
            # At most two blocks wait, so memory stays bounded if hashing falls behind.
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._work, daemon=True, name="kinetic-hash")
            self._thread.start()
        self._queue.put(data)

    def _hash(self, block: bytes) -> None:
        self._sha.update(block)
        self._crc.update(block)

    def _work(self) -> None:
        assert self._queue is not None
        while (block := self._queue.get()) is not None:
            self._hash(block)

    def finish(self) -> tuple[Digest, str]:
        """(size + SHA-256, CRC32C as GCS reports it: base64 of the big-endian value)."""
        if self._queue is not None:
            self._queue.put(None)
            assert self._thread is not None
            self._thread.join()
            self._queue = None
        crc = base64.b64encode(self._crc.digest()).decode()
        return Digest(self.size, self._sha.hexdigest()), crc


def read_full(src: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at end of stream (raw streams may return short reads)."""
    first = src.read(n)
    if not first or len(first) == n:
        return first or b""
    parts = [first]
    got = len(first)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def remaining_size(src: BinaryIO) -> int | None:
    """Bytes left in ``src`` when it can tell (a regular file); None for pipes and streams."""
    try:
        if not src.seekable():
            return None
        here = src.tell()
        end = src.seek(0, 2)
        src.seek(here)
        return max(0, end - here)
    except (AttributeError, OSError, ValueError):
        return None


class UploadStream:
    """What the resumable upload reads: a head already read, then the rest of ``src``.

    It counts its position (the library needs ``tell()``), always fills the chunk it is
    asked for (a short read would end the upload early), and feeds the digest and the
    progress bar. It never seeks: chunk retries resend the bytes the library still holds.
    """

    def __init__(self, head: bytes, src: BinaryIO, digest: StreamDigest, progress: Progress):
        self._head, self._src = head, src
        self._digest, self._progress = digest, progress
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = sys.maxsize
        data = b""
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        if len(data) < n:
            rest = self._src.read() if n == sys.maxsize else read_full(self._src, n - len(data))
            data = data + rest if data else rest
        self._pos += len(data)
        self._digest.update(data)
        self._progress.advance(len(data))
        return data


class DownloadSink:
    """What the download writes to: passes each piece on, hashing and counting it."""

    def __init__(self, dst: BinaryIO, digest: StreamDigest, progress: Progress):
        self._dst, self._digest, self._progress = dst, digest, progress

    def write(self, data: bytes) -> int:
        self._dst.write(data)
        self._digest.update(data)
        self._progress.advance(len(data))
        return len(data)

    def flush(self) -> None:
        flush = getattr(self._dst, "flush", None)
        if flush is not None:
            flush()


def stream_download(
    session: requests.Session,
    url: str,
    size: int,
    sink: DownloadSink,
    retry: Retry,
    timeout: float,
) -> int:
    """GET ``url`` into ``sink`` in 1 MiB blocks, retrying with ``retry``.

    An interrupted transfer resumes from the bytes already received (a Range request),
    so the sink sees every byte exactly once. Reading 1 MiB at a time (the library
    iterates in 8 KiB pieces) keeps the client's CPU free for hashing.
    """
    from google.api_core import exceptions as gexc

    got = 0

    def attempt() -> None:
        nonlocal got
        headers = {"Range": f"bytes={got}-"} if got else {}
        with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
            if response.status_code not in (200, 206):
                message = f"GET {url}: {response.text[:1000]}"
                raise gexc.from_http_status(response.status_code, message, response=response)
            # A server that ignores Range resends from byte 0: skip what we already have.
            skip = got if response.status_code == 200 else 0
            for block in response.iter_content(DOWNLOAD_BLOCK):
                if skip:
                    cut = min(skip, len(block))
                    block, skip = block[cut:], skip - cut
                    if not block:
                        continue
                sink.write(block)
                got += len(block)
        if got < size:
            raise ConnectionError(f"the connection ended after {got} of {size} bytes")

    retry(attempt)()
    return got


class Progress:
    """A rich progress bar on stderr, only on a terminal and only for transfers over 10 MB.

    When the size is unknown (a stream), the bar appears once 10 MB have gone by. Updates
    are throttled so the bar costs next to nothing per block.
    """

    def __init__(self, description: str, total: int | None, stream: TextIO | None = None):
        self.description, self.total = description, total
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._shown = 0
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        if self.enabled and total is not None and total > PROGRESS_THRESHOLD:
            self._start()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is None:
            if self.total is None and self.done > PROGRESS_THRESHOLD:
                self._start()
            return
        if self.done - self._shown >= 1024 * 1024 or (self.total and self.done >= self.total):
            assert self._task is not None  # set with the bar
            self._bar.update(self._task, completed=self.done)
            self._shown = self.done

    def close(self) -> None:
        if self._bar is not None:
            assert self._task is not None  # set with the bar
            self._bar.update(self._task, completed=self.done)
            self._bar.stop()
            self._bar = None
