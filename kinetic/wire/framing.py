"""Framing of what crosses the store between caller and job: payload.pkl and result.pkl.

Both are *framed*: one header line carrying the body's SHA-256 and size, then the body. A
reader verifies the digest before unpickling anything, so a truncated or tampered object
is refused instead of being half-loaded.

The body (``KINETIC2``) is a table line, the pickle stream (protocol 5), then the big
buffers the pickle refers to out of band (a NumPy array's or a DataFrame's data)::

    KINETIC2 <sha256 of the body> <body size, 20 digits>\n
    <pickle stream size> <buffer 1 size> <buffer 2 size> …\n
    <pickle stream><buffer 1><buffer 2>…

The writer copies nothing of a buffer: it goes from the value's memory to the file. The
reader streams the pickle into a spool (bounded RAM) and each buffer straight into the
memory the rebuilt value then uses, so neither side holds much more than the value; it
is the reader's private copy that is verified and then unpickled. ``KINETIC1`` bodies
(older writers: the pickle alone) are still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from kinetic.model.errors import IntegrityError, SerializationError
from kinetic.store.store_contract import CHUNK_SIZE, Digest, Store
from kinetic.wire import pickler

MAGIC = b"KINETIC2"
MAGIC_V1 = b"KINETIC1"  # the body is the pickle alone: read, no longer written
# Buffers from this size on travel out of band; smaller ones stay in the pickle stream.
OUT_OF_BAND_MIN = 1024 * 1024
TABLE_LIMIT = 1024 * 1024  # a table line longer than this is not ours
SPOOL_LIMIT = 32 * 1024 * 1024
# The header is written before the body it describes, so it has a fixed width: the size is
# zero-padded (readers parse it with int(), so older unpadded headers still read).
HEADER_SIZE = len(b"%s %s %020d\n" % (MAGIC, b"0" * 64, 0))
# Big buffers (a NumPy array's data, which protocol 5 hands to write() as a PickleBuffer
# instead of copying it into the pickle stream) are hashed in slices on a helper thread
# while the same slice is written: hashlib and file writes both release the GIL.
_SLICE = 16 * 1024 * 1024


def _header(sha256: str, size: int) -> bytes:
    return b"%s %s %020d\n" % (MAGIC, sha256.encode(), size)


def _byte_view(data: Any) -> memoryview:
    """A flat byte view of whatever the pickler writes: bytes, or (protocol 5) a
    PickleBuffer of an array's memory, which has no len() and may be multi-dimensional."""
    if isinstance(data, pickle.PickleBuffer):
        return data.raw()
    view = memoryview(data)
    return view if view.ndim == 1 and view.format in ("B", "b", "c") else view.cast("B")


class _BodyWriter:
    """The pickler's file: counts and hashes the body as it is written, without a copy."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = _byte_view(data)
        n = view.nbytes
        if n < 2 * _SLICE:
            self._sha.update(view)
            self._raw.write(view)
        else:
            for start in range(0, n, _SLICE):
                part = view[start : start + _SLICE]
                hasher = threading.Thread(target=self._sha.update, args=(part,))
                hasher.start()
                self._raw.write(part)
                hasher.join()
        self.size += n
        return n

    def digest(self) -> Digest:
        return Digest(self.size, self._sha.hexdigest())


@dataclass
class Framed:
    """A pickled object ready to store: header + body in one file, and the body's digest.

    ``scratch`` is the store whose scratch file holds it (see frame), which can make it an
    object without copying it."""

    file: IO[bytes]
    digest: Digest
    scratch: Store | None = None

    def reader(self) -> BinaryIO:
        self.file.seek(0)
        return self.file  # type: ignore[return-value]

    def close(self) -> None:
        self.file.close()
        if self.scratch is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.file.name)


def frame(
    obj: object, *, culprit: Callable[[], str] | None = None, store: Store | None = None
) -> Framed:
    """Pickle ``obj`` (kinetic.wire.pickler) into a temp file, its buffers written straight
    from the object's memory: in ``store``'s scratch space when it has one (a directory:
    the file then becomes the object by a rename, so a big value is written once), else a
    spooled file (small values stay in RAM, big ones spill to disk)."""
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_MIN:
            return True  # in band: written into the stream (still without a copy)
        buffers.append(view)
        return False

    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as stream:
        try:
            pickler.dump(obj, stream, buffer_callback=out_of_band)
        except Exception as exc:
            detail = culprit() if culprit else f"{type(exc).__name__}: {exc}"
            raise SerializationError(detail) from exc
        framed = new_framed(store)
        if framed.scratch is not None:
            try:
                return _assemble(framed, stream, buffers)
            except OSError:
                # The store's disk refused it (full?): spool it elsewhere, and let the
                # store's own upload say what is wrong with it.
                framed = new_framed(None)
        try:
            return _assemble(framed, stream, buffers)
        except OSError as exc:
            raise SerializationError(f"cannot spool the pickled object: {exc}") from exc


def new_framed(store: Store | None) -> Framed:
    """An empty ``Framed`` to write an artifact into: ``store``'s scratch file when it has
    one (storing it is then a rename), else a spooled temporary file (also when the
    store's disk refuses to make the scratch file)."""
    if store is not None:
        scratch = None
        with contextlib.suppress(OSError):
            scratch = store.scratch_file()
        if scratch is not None:
            return Framed(scratch, Digest(0, ""), store)
    return Framed(tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT), Digest(0, ""))


def _assemble(framed: Framed, stream: IO[bytes], buffers: list[memoryview]) -> Framed:
    """Header, table, pickle stream and buffers into ``framed``'s file (closed on failure)."""
    file = framed.file
    try:
        file.write(b" " * HEADER_SIZE)  # the header's place, filled in at the end
        writer = _BodyWriter(file)
        sizes = [stream.tell()] + [b.nbytes for b in buffers]
        writer.write(b" ".join(b"%d" % n for n in sizes) + b"\n")
        stream.seek(0)
        shutil.copyfileobj(stream, writer, CHUNK_SIZE)
        for view in buffers:
            writer.write(view)
        framed.digest = writer.digest()
        file.seek(0)
        file.write(_header(framed.digest.sha256, framed.digest.size))
        file.seek(0)
    except BaseException:
        framed.close()
        raise
    return framed


class _FrameReader:
    """The write target of a download: splits the header off, hashes the body as it
    arrives, and sorts it into the pickle stream (to ``spool``) and the out-of-band
    buffers (into the memory the rebuilt value will use)."""

    def __init__(self, spool: IO[bytes]):
        self.spool = spool
        self.header = b""
        self.magic = b""
        self._pending = b""  # the table line, until its newline
        self._sha = hashlib.sha256()
        self.size = 0
        self.stream_left = -1  # -1: the table line has not been read yet
        self.buffers: list[bytearray] = []
        self._index = 0  # the buffer being filled, and how far
        self._filled = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        if not self.magic:
            self.header += bytes(view)
            if b"\n" not in self.header:
                if len(self.header) > 200:
                    raise IntegrityError("not a Kinetic artifact: no header line")
                return n
            self.header, _, rest = self.header.partition(b"\n")
            self.magic = self.header[:8] or b"?"
            view = memoryview(rest)
        self._sha.update(view)
        self.size += view.nbytes
        if self.magic == MAGIC_V1:
            self.spool.write(view)
        elif self.magic == MAGIC:
            self._take(view)
        return n

    def _take(self, view: memoryview) -> None:
        if self.stream_left < 0:
            line, newline, rest = (self._pending + bytes(view)).partition(b"\n")
            if not newline:
                if len(line) > TABLE_LIMIT:
                    raise IntegrityError("not a Kinetic artifact: no buffer table")
                self._pending = line
                return
            self._pending = b""
            try:
                sizes = [int(x) for x in line.split(b" ")]
            except ValueError:
                raise IntegrityError("not a Kinetic artifact: a bad buffer table") from None
            declared = int(self.header.split(b" ")[-1]) if self.header[-20:].isdigit() else -1
            if not sizes or min(sizes) < 0 or len(line) + 1 + sum(sizes) != declared:
                raise IntegrityError("not a Kinetic artifact: a bad buffer table")
            self.stream_left = sizes[0]
            # The memory the value's arrays will use, filled as the bytes arrive.
            self.buffers = [bytearray(n) for n in sizes[1:]]
            view = memoryview(rest)
        if self.stream_left:
            part = view[: self.stream_left]
            self.spool.write(part)
            self.stream_left -= part.nbytes
            view = view[part.nbytes :]
        while view.nbytes:
            while self._index < len(self.buffers) and self._filled == len(
                self.buffers[self._index]
            ):
                self._index, self._filled = self._index + 1, 0
            if self._index == len(self.buffers):
                raise IntegrityError("more data than its buffer table says")
            buffer = self.buffers[self._index]
            part = view[: len(buffer) - self._filled]
            buffer[self._filled : self._filled + part.nbytes] = part
            self._filled += part.nbytes
            view = view[part.nbytes :]

    def verified(self, key: str, expected_sha256: str | None) -> None:
        parts = self.header.split(b" ")
        if len(parts) != 3 or parts[0] not in (MAGIC, MAGIC_V1):
            raise IntegrityError(f"{key} is not a Kinetic artifact (bad header)")
        sha, size = parts[1].decode(), int(parts[2]) if parts[2].isdigit() else -1
        actual = self._sha.hexdigest()
        if size != self.size or sha != actual:
            raise IntegrityError(
                f"{key} is corrupt: its header says sha256={sha} size={size}, "
                f"its content is sha256={actual} size={self.size}"
            )
        if expected_sha256 and expected_sha256 != actual:
            raise IntegrityError(
                f"{key} has sha256={actual}, but the job recorded {expected_sha256}; "
                "refusing to unpickle it"
            )
        # (The sizes add up to the header's, which the content matched: all has arrived.)


def load_framed(store: Store, key: str, expected_sha256: str | None = None) -> Any:
    """Download, verify, then unpickle an object written by ``frame``."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
        reader = _FrameReader(spool)
        store.download(key, reader)  # type: ignore[arg-type]
        reader.verified(key, expected_sha256)
        spool.seek(0)
        try:
            return pickle.load(spool, buffers=reader.buffers)
        except Exception as exc:
            raise SerializationError(
                f"{key} could not be unpickled here: {type(exc).__name__}: {exc}"
            ) from exc


def store_framed(store: Store, key: str, framed: Framed, *, if_absent: bool = True) -> Digest:
    try:
        if framed.scratch is store:
            store.adopt(key, framed.file, if_absent=if_absent)  # type: ignore[arg-type]
        else:
            store.upload(key, framed.reader(), if_absent=if_absent)
    finally:
        framed.close()
    return framed.digest
