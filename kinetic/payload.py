"""What travels to a job and back: the payload, the result envelope, and their framing.

Both payload.pkl and result.pkl are *framed*: one header line carrying the body's SHA-256
and size, then the pickle. A reader verifies the digest before unpickling anything, so a
truncated or tampered object is refused instead of being half-loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import sys
import sysconfig
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from .errors import IntegrityError, SerializationError
from .store.base import Digest, HashingWriter, Store

MAGIC = b"KINETIC1"
SPOOL_LIMIT = 32 * 1024 * 1024


@dataclass
class Payload:
    function: Callable[..., Any] | None
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Values captured from the caller's environment (capture_env); kept out of handle.json.
    captured_env: dict[str, str] = field(default_factory=dict)
    client: dict[str, str] = field(default_factory=dict)
    # A command to run instead of a function (kinetic.submit), and files for the job's
    # working directory: name -> (content, mode).
    command: list[str] | None = None
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)


@dataclass
class ResultEnvelope:
    success: bool
    value: Any = None
    phase: str = "run"
    reason: str | None = None
    message: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    # The exception is pickled on its own so that an exception type missing here does not
    # make the whole envelope unreadable.
    exception_pickle: bytes | None = None
    traceback: str | None = None
    exit_code: int | None = None


def client_fingerprint() -> dict[str, str]:
    import cloudpickle

    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "cloudpickle": cloudpickle.__version__,
    }


# -- caller's modules travel by value ------------------------------------------------------
def _installed_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return [Path(r).resolve() for r in roots]


def project_modules() -> list[str]:
    """Top-level modules loaded from outside the interpreter's and site-packages' trees.

    Those are the caller's own code: a job may not have them on its path, so cloudpickle
    must ship them by value instead of by reference.
    """
    roots = _installed_roots()
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in found or top in ("__main__", "kinetic", "kinetic_operator"):
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if any(root in path.parents for root in roots):
            continue
        if top in sys.modules:
            found.add(top)
    return sorted(found)


@contextlib.contextmanager
def _by_value(modules: list[str]) -> Iterator[None]:
    import cloudpickle

    registered = []
    for name in modules:
        try:
            cloudpickle.register_pickle_by_value(sys.modules[name])
            registered.append(name)
        except (ValueError, KeyError):
            pass
    try:
        yield
    finally:
        for name in registered:
            with contextlib.suppress(ValueError, KeyError):
                cloudpickle.unregister_pickle_by_value(sys.modules[name])


# -- framing -------------------------------------------------------------------------------
def _describe(obj: object) -> str:
    return type(obj).__qualname__


def _find_culprit(payload: Payload) -> str:
    import cloudpickle

    candidates: list[tuple[str, object]] = [("the function", payload.function)]
    candidates += [(f"argument {i} ({_describe(a)})", a) for i, a in enumerate(payload.args, 1)]
    candidates += [
        (f"keyword argument {k!r} ({_describe(v)})", v) for k, v in payload.kwargs.items()
    ]
    for label, obj in candidates:
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            return f"{label} cannot be pickled: {type(exc).__name__}: {exc}"
    return "the payload cannot be pickled"


class _ChainReader(io.RawIOBase):
    """Reads a header then a file, without concatenating them in memory."""

    def __init__(self, header: bytes, body: IO[bytes]):
        self._parts: list[IO[bytes]] = [io.BytesIO(header), body]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts:
            n = self._parts[0].readinto(buffer)  # type: ignore[attr-defined]
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
        return io.BufferedReader(_ChainReader(header, self.body), 1024 * 1024)  # type: ignore[return-value]

    def close(self) -> None:
        self.body.close()


def frame(obj: object, *, culprit: Callable[[], str] | None = None) -> Framed:
    """Pickle ``obj`` into a spooled temp file (big payloads spill to disk, not RAM)."""
    import cloudpickle

    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115 - returned open
    writer = HashingWriter(body)  # type: ignore[arg-type]
    try:
        cloudpickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[arg-type]
    except Exception as exc:
        body.close()
        detail = culprit() if culprit else f"{type(exc).__name__}: {exc}"
        raise SerializationError(detail) from exc
    return Framed(body, writer.digest())  # type: ignore[arg-type]


def frame_payload(payload: Payload) -> Framed:
    with _by_value(project_modules()):
        return frame(payload, culprit=lambda: _find_culprit(payload))


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
        store.upload(key, framed.reader(), if_absent=if_absent)
    finally:
        framed.close()
    return framed.digest


# -- the result envelope -------------------------------------------------------------------
def failure_envelope(exc: BaseException, phase: str, reason: str) -> ResultEnvelope:
    import cloudpickle

    try:
        exc_bytes = cloudpickle.dumps(exc)
    except Exception:
        exc_bytes = None  # its type and text still travel; the client raises RemoteError
    return ResultEnvelope(
        success=False,
        phase=phase,
        reason=reason,
        message=f"{type(exc).__name__}: {exc}",
        exception_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        exception_message=str(exc),
        exception_pickle=exc_bytes,
        traceback="".join(traceback.format_exception(exc)),
    )


def rebuild_exception(envelope: ResultEnvelope, job_id: str) -> BaseException:
    """The job's own exception, with the remote traceback as a PEP 678 note."""
    from .errors import RemoteError

    note = f"Remote traceback (job {job_id}, phase {envelope.phase}):\n{envelope.traceback or ''}"
    exc: BaseException | None = None
    if envelope.exception_pickle is not None:
        try:
            exc = pickle.loads(envelope.exception_pickle)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(
            job_id,
            envelope.exception_type or "Exception",
            envelope.exception_message or envelope.message or "",
            envelope.traceback or "",
        )
    exc.add_note(note.rstrip())
    return exc
