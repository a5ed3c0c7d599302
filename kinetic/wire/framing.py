"""Framing of what crosses the store between caller and job: payload.pkl and result.pkl.

Both are *framed*: one header line carrying the body's SHA-256 and size, then the pickle.
A reader verifies the digest before unpickling anything, so a truncated or tampered object
is refused instead of being half-loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from kinetic.model.errors import IntegrityError, SerializationError
from kinetic.store.store_contract import Digest, Store
from kinetic.wire import pickler

MAGIC = b"KINETIC1"
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
    scratch = store.scratch_file() if store is not None else None
    file = scratch or tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115
    framed = Framed(file, Digest(0, ""), store if scratch else None)  # type: ignore[arg-type]
    try:
        file.write(b" " * HEADER_SIZE)  # the header's place, filled in once the body is known
        writer = _BodyWriter(file)  # type: ignore[arg-type]
        pickler.dump(obj, writer)
        digest = writer.digest()
        file.seek(0)
        file.write(_header(digest.sha256, digest.size))
        file.seek(0)
    except Exception as exc:
        framed.close()
        detail = culprit() if culprit else f"{type(exc).__name__}: {exc}"
        raise SerializationError(detail) from exc
    framed.digest = digest
    return framed


class _FrameVerifier:
    """A write target that splits the header off and hashes the body as it arrives."""

    def __init__(self, body: IO[bytes]):
        self.body = body
        self.header = b""
        self._in_header = True
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        n = len(data)
        if self._in_header:
            self.header += data
            if b"\n" not in self.header:
                if len(self.header) > 200:
                    raise IntegrityError("not a Kinetic artifact: no header line")
                return n
            self.header, _, data = self.header.partition(b"\n")
            self._in_header = False
        self._sha.update(data)
        self.size += len(data)
        self.body.write(data)
        return n

    def verified(self, key: str, expected_sha256: str | None) -> None:
        parts = self.header.split(b" ")
        if self._in_header or len(parts) != 3 or parts[0] != MAGIC:
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


def load_framed(store: Store, key: str, expected_sha256: str | None = None) -> Any:
    """Download, verify, then unpickle an object written by ``frame``."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as body:
        verifier = _FrameVerifier(body)  # type: ignore[arg-type]
        store.download(key, verifier)  # type: ignore[arg-type]
        verifier.verified(key, expected_sha256)
        body.seek(0)
        try:
            return pickle.load(body)
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
