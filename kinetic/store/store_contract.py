"""The store contract every backend and the runner rely on.

A store is a flat namespace of immutable-or-replaced objects addressed by keys such as
``jobs/{job_id}/handle.json``. Both implementations (``file://`` and ``gs://``) pass the
same contract tests (tests/test_store_contract.py), so code above this layer never asks
which one it has.

Logs are the one thing that grows: they are written as *chunks* named by the byte offset
at which they start, so a reader holding a byte offset can resume exactly where it left
off, on either store, without a line lost or repeated.
"""

from __future__ import annotations

import abc
import builtins
import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from kinetic.model.errors import StorageError

CHUNK_SIZE = 8 * 1024 * 1024


class ObjectNotFound(StorageError, KeyError):
    """The key does not exist in the store."""

    def __init__(self, key: str, uri: str = ""):
        self.key = key
        super().__init__(f"{key} not found in {uri or 'the store'}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str


class HashingReader:
    """Wraps a readable stream and hashes what passes through it (no extra copy kept)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._sha.update(data)
        self.size += len(data)
        return data

    def digest(self) -> Digest:
        return Digest(self.size, self._sha.hexdigest())


class HashingWriter:
    """Wraps a writable stream and hashes what passes through it."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def digest(self) -> Digest:
        return Digest(self.size, self._sha.hexdigest())


class Store(abc.ABC):
    """Where a job's artifacts live. Keys use '/' and never start with '/'."""

    uri: str

    # -- whole objects ------------------------------------------------------------------
    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write an object atomically. With ``if_absent`` raise JobExistsError if it exists."""

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Read a whole object; ObjectNotFound if it does not exist."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def upload(self, key: str, src: BinaryIO, *, if_absent: bool = False) -> Digest:
        """Stream ``src`` into an object, atomically; returns its size and SHA-256."""

    @abc.abstractmethod
    def download(self, key: str, dst: BinaryIO) -> Digest:
        """Stream an object into ``dst``; returns its size and SHA-256."""

    # -- objects written in place -------------------------------------------------------
    def scratch_file(self) -> BinaryIO | None:
        """A new, named temporary file that ``adopt`` can turn into an object without copying
        it (big framed artifacts are written there once), or None if the store has no such
        place (a bucket: the caller spools the object elsewhere and uploads it)."""
        return None

    def adopt(self, key: str, file: BinaryIO, *, if_absent: bool = False) -> None:
        """Make ``file`` (from ``scratch_file``) the object ``key``, atomically; with
        ``if_absent`` raise JobExistsError if it exists. The file is consumed."""
        raise NotImplementedError(f"{type(self).__name__} has no scratch files")

    @abc.abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursively), sorted by key."""

    @abc.abstractmethod
    def list_children(self, prefix: str) -> builtins.list[str]:
        """The immediate 'directory' names under ``prefix`` (like ``ls``)."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""

    # -- logs -----------------------------------------------------------------------------
    @abc.abstractmethod
    def append_log(self, prefix: str, offset: int, data: bytes) -> None:
        """Add ``data`` to the log under ``prefix``; ``offset`` is where it starts."""

    @abc.abstractmethod
    def read_log(self, prefix: str, offset: int = 0) -> tuple[bytes, int]:
        """Everything in the log from ``offset``; returns (data, next offset)."""

    @abc.abstractmethod
    def log_end(self, prefix: str) -> int:
        """The log's length in bytes (0 when there is none), without reading it."""

    def describe(self) -> str:
        return self.uri
