"""Framing of what crosses the store between caller and job: payload.pkl and result.pkl.

Both are *framed*: one header line carrying the body's SHA-256 and size, then the pickle.
A reader verifies the digest before unpickling anything, so a truncated or tampered object
is refused instead of being half-loaded.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from kinetic.model.errors import IntegrityError, SerializationError
from kinetic.store.store_contract import Digest, HashingWriter, Store

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAGIC = b"KINETIC1"
SPOOL_LIMIT = 32 * 1024 * 1024


class _ChainReader(io.RawIOBase):
    """Reads a header then a file, without concatenating them in memory."""

    def __init__(self, header: bytes, body: IO[bytes]):
        self._parts: list[IO[bytes]] = [io.BytesIO(header), body]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while self._parts:
            # IO[bytes] does not declare readinto; BytesIO and the spooled file have it.
            n: int | None = self._parts[0].readinto(buffer)  # type: ignore[attr-defined]
            if n:
                return n
            self._parts.pop(0)
        return 0


@dataclass
class Framed:
    """A pickled object ready to upload: header + body, and the body's digest."""

    body: IO[bytes]
    digest: Digest

    def reader(self) -> BinaryIO:
        self.body.seek(0)
        header = b"%s %s %d\n" % (MAGIC, self.digest.sha256.encode(), self.digest.size)
        return io.BufferedReader(_ChainReader(header, self.body), 1024 * 1024)

    def close(self) -> None:
        self.body.close()


def frame(obj: object, *, culprit: Callable[[], str] | None = None) -> Framed:
    """Pickle ``obj`` into a spooled temp file (big payloads spill to disk, not RAM)."""
    import cloudpickle

    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115 - returned open
    writer = HashingWriter(body)  # type: ignore[arg-type]
    try:
        cloudpickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        body.close()
        detail = culprit() if culprit else f"{type(exc).__name__}: {exc}"
        raise SerializationError(detail) from exc
    return Framed(body, writer.digest())


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
        sha, size = parts[1].decode(), int(parts[2])
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
        verifier = _FrameVerifier(body)
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
        store.upload(key, framed.reader(), if_absent=if_absent)
    finally:
        framed.close()
    return framed.digest
