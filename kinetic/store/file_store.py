"""The ``file://`` store: a directory tree on this machine (or a volume shared with nodes)."""

from __future__ import annotations

import builtins
import contextlib
import errno as errnos
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

from kinetic.model.errors import JobExistsError, StorageError
from kinetic.store.store_contract import (
    CHUNK_SIZE,
    Digest,
    HashingReader,
    HashingWriter,
    ObjectInfo,
    ObjectNotFound,
    Store,
)

LOG_FILE = "output.log"


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): set and restore
    os.umask(mask)
    return mask


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()
        self._root_text = str(self.root)

    def _path(self, key: str) -> Path:
        # Keys are built from validated job ids, but keep the root a hard boundary anyway.
        # (A string check, not resolve(): this runs for every record list_jobs() reads.)
        key = key.rstrip("/")
        if key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/") if key):
            raise StorageError(f"key {key!r} points outside the store {self.uri}")
        return Path(self._root_text, key) if key else self.root

    def _atomic_write(self, key: str, fill, *, if_absent: bool):
        """Write through a temp file in the same directory so readers never see a partial file."""
        try:
            return self._atomic_write_unchecked(key, fill, if_absent=if_absent)
        except OSError as exc:  # read-only, full, gone: a KineticError naming path and errno
            raise _refused(exc, self._path(key)) from exc

    def _atomic_write_unchecked(self, key: str, fill, *, if_absent: bool):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_absent and path.exists():
            raise JobExistsError(f"{key} already exists in {self.uri}; refusing to overwrite it")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            # mkstemp makes the file 0600; a store shared with jobs running as another uid
            # (docs/kubernetes.md: default ACLs, whose mask follows these bits) needs the
            # mode an ordinary open() would give.
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as f:
                result = fill(f)
            self._commit(tmp, path, key, if_absent=if_absent)
            return result
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _commit(self, tmp: str, path: Path, key: str, *, if_absent: bool) -> None:
        if if_absent:
            # link() fails if the target exists: an atomic create-if-absent.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise JobExistsError(
                    f"{key} already exists in {self.uri}; refusing to overwrite it"
                ) from None
        else:
            os.replace(tmp, path)

    def scratch_file(self) -> BinaryIO:
        # At the root, named like every temp file here: listings never show it.
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.NamedTemporaryFile(dir=self.root, prefix=".tmp-", delete=False)  # noqa: SIM115
        # Adopted as it is: it needs a shared store's mode now, not mkstemp's 0600 (see
        # _atomic_write), or a job running as another uid cannot read its payload.
        os.fchmod(scratch.fileno(), 0o666 & ~_umask())
        return cast(BinaryIO, scratch)  # adopt() takes it by its .name

    def adopt(self, key: str, file: BinaryIO, *, if_absent: bool = False) -> None:
        tmp = file.name
        file.close()
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if if_absent and path.exists():
                raise JobExistsError(
                    f"{key} already exists in {self.uri}; refusing to overwrite it"
                )
            self._commit(tmp, path, key, if_absent=if_absent)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self._atomic_write(key, lambda f: f.write(data), if_absent=if_absent)

    def read_bytes(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key, self.uri) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def upload(self, key: str, src: BinaryIO, *, if_absent: bool = False) -> Digest:
        def fill(f):
            writer = HashingWriter(f)
            shutil.copyfileobj(src, writer, CHUNK_SIZE)
            return writer.digest()

        return self._atomic_write(key, fill, if_absent=if_absent)

    def download(self, key: str, dst: BinaryIO) -> Digest:
        try:
            f = self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key, self.uri) from None
        with f:
            reader = HashingReader(f)
            shutil.copyfileobj(reader, dst, CHUNK_SIZE)
            return reader.digest()

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                full = Path(dirpath, name)
                key = full.relative_to(self.root).as_posix()
                found.append(ObjectInfo(key, full.stat().st_size))
        return sorted(found, key=lambda o: o.key)

    def list_children(self, prefix: str) -> builtins.list[str]:
        try:
            with os.scandir(self._path(prefix)) as entries:
                return sorted(e.name for e in entries if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix)
        if not base.exists():
            return 0
        count = sum(len(files) for _, _, files in os.walk(base))
        shutil.rmtree(base, ignore_errors=True)
        return count

    # Locally a log is one file that only grows, so a byte offset is a natural cursor.
    def append_log(self, prefix: str, offset: int, data: bytes) -> None:
        path = self._path(f"{prefix}/{LOG_FILE}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("ab", buffering=0)
        except OSError as exc:
            raise _refused(exc, path) from exc
        with f:
            if f.tell() != offset:
                raise StorageError(
                    f"log {path} is {f.tell()} bytes long, but the writer expected {offset}"
                )
            try:
                view = memoryview(data)
                while view:
                    view = view[f.write(view) :]
            except OSError as exc:
                # Take back a partial append, so the writer's retry lands at its offset.
                with contextlib.suppress(OSError):
                    f.truncate(offset)
                raise _refused(exc, path) from exc

    def log_end(self, prefix: str) -> int:
        try:
            return self._path(f"{prefix}/{LOG_FILE}").stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def read_log(self, prefix: str, offset: int = 0) -> tuple[bytes, int]:
        try:
            with self._path(f"{prefix}/{LOG_FILE}").open("rb") as f:
                f.seek(offset)
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return b"", offset
        return data, offset + len(data)


def _refused(exc: OSError, path: Path) -> StorageError:
    code = errnos.errorcode.get(exc.errno or 0, str(exc.errno))
    return StorageError(f"the store refused a write to {path}: {code} ({exc.strerror or exc})")
