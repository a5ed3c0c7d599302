"""The ``gs://bucket/prefix`` store, on google-cloud-storage.

Same layout and contract as the local store (tests/test_store_contract.py runs against
both). What differs is made safe here:

* write-once records use the generation precondition ``ifGenerationMatch=0``; a 412 is a
  collision (JobExistsError) unless our own retried request created the object, which we
  recognise by its size and checksum;
* logs are immutable chunk objects named by byte offset (see gcs_logs.py);
* transfers stream (resumable uploads, resumed downloads) and hash on the fly (gcs_io.py);
* transient failures are retried with backoff and jitter within a bounded time, then
  reported with the object and the last error; setup errors say what to do (gcs_errors.py).

Credentials come from Application Default Credentials. When ``STORAGE_EMULATOR_HOST`` is
set, the client talks to that emulator anonymously — the same code path otherwise.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import mimetypes
import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from kinetic.model.errors import JobExistsError, StorageError
from kinetic.store.gcs_errors import (
    Attempts,
    GCSSettings,
    bucket_missing,
    make_retry,
    status_of,
    translate,
)
from kinetic.store.gcs_io import (
    DownloadSink,
    Progress,
    StreamDigest,
    UploadStream,
    read_full,
    remaining_size,
    stream_download,
)
from kinetic.store.gcs_logs import LogIndex, chunk_name, parse_chunk_name
from kinetic.store.gcs_uri import parse_gs_uri
from kinetic.store.store_contract import Digest, ObjectInfo, ObjectNotFound, Store

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud.storage import Bucket, Client

__all__ = ["GCSSettings", "GCSStore", "parse_gs_uri"]

# Objects up to this size go up in one request (atomic, and the emulator enforces
# preconditions on it); larger ones use a resumable upload, committed only when complete.
SINGLE_REQUEST_LIMIT = 8 * 1024 * 1024
SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
DEFAULT_ENDPOINT = "https://storage.googleapis.com"


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class GCSStore(Store):
    """A store in a GCS bucket under an optional prefix. Thread-safe; one client, lazily."""

    def __init__(self, uri: str, *, settings: GCSSettings | None = None):
        self.bucket_name, self.root = parse_gs_uri(uri)
        self.uri = f"gs://{self.bucket_name}/{self.root}".rstrip("/")
        self.settings = settings or GCSSettings.from_env()
        self._lock = threading.Lock()
        self._bucket: Bucket | None = None
        self._endpoint = DEFAULT_ENDPOINT
        self._session: AuthorizedSession | None = None
        self._principal: str | None = None
        self._bucket_ok = False
        self._pool: ThreadPoolExecutor | None = None
        self._logs = LogIndex(self._list_chunks, self._fetch_chunk, self._executor)

    def __repr__(self) -> str:
        return f"GCSStore({self.uri!r})"

    # -- plumbing ---------------------------------------------------------------------------
    def _make_client(self) -> Client:
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud import storage

        endpoint = self.settings.endpoint or os.environ.get("STORAGE_EMULATOR_HOST")
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            endpoint = endpoint if "://" in endpoint else f"http://{endpoint}"
            credentials: Credentials = AnonymousCredentials()
            # An emulator needs no credentials; a project name is required but unused.
            client = storage.Client(
                project="kinetic-emulator",
                credentials=credentials,
                client_options={"api_endpoint": endpoint},
            )
        else:
            import google.auth

            credentials, project = google.auth.default(scopes=SCOPES)
            principal = getattr(credentials, "service_account_email", None)
            # On GCE/GKE the metadata server's account reads "default" until refreshed.
            self._principal = principal if principal != "default" else None
            client = storage.Client(project=project, credentials=credentials)
        self._endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        # Our own session for streamed downloads, with the same credentials.
        self._session = AuthorizedSession(credentials)
        return client

    @property
    def bucket(self) -> Bucket:
        """The bucket handle; the first use creates the client (credentials are read then)."""
        if self._bucket is None:
            with self._lock:
                if self._bucket is None:
                    try:
                        client = self._make_client()
                    except Exception as exc:
                        raise translate(exc, "connect to", self.uri) from exc
                    self._bucket = client.bucket(self.bucket_name)
        return self._bucket

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kinetic-gcs")
            return self._pool

    def _name(self, key: str) -> str:
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
            raise StorageError(f"invalid key {key!r} for store {self.uri}")
        return f"{self.root}/{key}" if self.root else key

    def _dir(self, prefix: str) -> str:
        """The object-name prefix of a 'directory' (so 'jobs/a' never matches 'jobs/ab')."""
        prefix = prefix.strip("/")
        return self._name(prefix) + "/" if prefix else (f"{self.root}/" if self.root else "")

    def _target(self, key: str) -> str:
        return f"{self.uri}/{key}"

    def _kw(self, attempts: Attempts | None = None) -> dict:
        return {
            "retry": make_retry(self.settings, attempts or Attempts()),
            "timeout": self.settings.timeout,
        }

    def _fail(self, exc: BaseException, action: str, key: str) -> Exception:
        if status_of(exc) == 404:
            return bucket_missing(self.bucket_name, self.uri)
        target = self._target(key) if key else self.uri
        return translate(exc, action, target, self._principal, self.settings.deadline)

    def _not_found(self, key: str) -> ObjectNotFound:
        """ObjectNotFound — after making sure it is the object, not the bucket, that is missing."""
        self._check_bucket()
        return ObjectNotFound(key, self.uri)

    def _check_bucket(self) -> None:
        # GCS answers 404 alike for a missing object and a missing bucket. A listing needs
        # only storage.objects.list (in roles/storage.objectAdmin), unlike a bucket GET.
        if self._bucket_ok:
            return
        try:
            list(self.bucket.client.list_blobs(self.bucket, max_results=1, **self._kw()))
        except Exception as exc:
            if status_of(exc) != 403:  # not allowed to list: we cannot tell, so trust it
                raise self._fail(exc, "list", "") from exc
        self._bucket_ok = True

    # -- whole objects ----------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self._put(key, io.BytesIO(data), if_absent=if_absent, size=len(data))

    def upload(self, key: str, src: BinaryIO, *, if_absent: bool = False) -> Digest:
        return self._put(key, src, if_absent=if_absent, size=remaining_size(src))

    def _put(self, key: str, src: BinaryIO, *, if_absent: bool, size: int | None) -> Digest:
        name = self._name(key)
        precondition = 0 if if_absent else None
        attempts = Attempts()
        digest = StreamDigest()
        if size is not None and size > SINGLE_REQUEST_LIMIT:
            head, small = b"", False  # known to be large: stream it all, nothing read ahead
        else:
            head = read_full(src, SINGLE_REQUEST_LIMIT + 1)
            small = len(head) <= SINGLE_REQUEST_LIMIT
        try:
            self._send(key, name, head, small, src, digest, precondition, attempts, size)
        except Exception as exc:
            result, crc = digest.finish()  # also stops the hashing thread
            if status_of(exc) != 412:
                raise self._fail(exc, "write", key) from exc
            # A retried request whose first attempt did land also gets 412: that is our
            # own object, not a collision. Recognise it by size and checksum.
            if attempts.retried and self._holds(name, result.size, crc, head if small else None):
                return result
            raise JobExistsError(
                f"{key} already exists in {self.uri}; refusing to overwrite it"
            ) from None
        return digest.finish()[0]

    def _send(self, key, name, head, small, src, digest, precondition, attempts, size) -> None:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if small:
            digest.update(head)
            blob = self.bucket.blob(name)
            blob.upload_from_string(
                head,
                content_type=content_type,
                if_generation_match=precondition,
                **self._kw(attempts),
            )
            return
        progress = Progress(f"upload {key}", size)
        blob = self.bucket.blob(name, chunk_size=self.settings.chunk_size)
        try:
            # Nothing is visible until the last chunk commits the object, so a failure
            # part-way leaves no partial object behind.
            blob.upload_from_file(
                UploadStream(head, src, digest, progress),
                content_type=content_type,
                if_generation_match=precondition,
                **self._kw(attempts),
            )
        finally:
            progress.close()

    def _holds(self, name: str, size: int, crc32c: str, data: bytes | None) -> bool:
        """Whether the object is the one we meant to write (same size, CRC32C and MD5)."""
        try:
            blob = self.bucket.get_blob(name, **self._kw())
        except Exception:
            return False
        if blob is None or blob.size != size or blob.crc32c != crc32c:
            return False
        return data is None or blob.md5_hash in (None, _md5_b64(data))

    def read_bytes(self, key: str) -> bytes:
        blob = self.bucket.blob(self._name(key))
        try:
            return blob.download_as_bytes(**self._kw())
        except Exception as exc:
            if status_of(exc) == 404:
                raise self._not_found(key) from None
            raise self._fail(exc, "read", key) from exc

    def exists(self, key: str) -> bool:
        try:
            found = self.bucket.blob(self._name(key)).exists(**self._kw())
        except Exception as exc:
            raise self._fail(exc, "check", key) from exc
        if not found:
            self._check_bucket()
        return found

    def download(self, key: str, dst: BinaryIO) -> Digest:
        name = self._name(key)
        try:
            meta = self.bucket.get_blob(name, **self._kw())
            if meta is None:
                raise self._not_found(key)
            # Pin the generation: a concurrent rewrite can never mix two versions' bytes.
            url = (
                f"{self._endpoint}/download/storage/v1/b/{self.bucket_name}/o/"
                f"{quote(name, safe='')}?alt=media&generation={meta.generation}"
            )
            digest = StreamDigest()
            progress = Progress(f"download {key}", meta.size)
            # self.bucket (above) made the client, and the session with it.
            assert self._session is not None
            try:
                stream_download(
                    self._session,
                    url,
                    meta.size or 0,
                    DownloadSink(dst, digest, progress),
                    make_retry(self.settings, Attempts()),
                    self.settings.timeout,
                )
            finally:
                progress.close()
        except ObjectNotFound:
            raise
        except Exception as exc:
            if status_of(exc) == 404:
                raise self._not_found(key) from None
            raise self._fail(exc, "read", key) from exc
        result, crc = digest.finish()
        if result.size != meta.size or (meta.crc32c and crc != meta.crc32c):
            raise StorageError(
                f"download of {self._target(key)} was corrupted in transit: got {result.size} "
                f"bytes with crc32c {crc}, the object has {meta.size} bytes, crc32c {meta.crc32c}"
            )
        return result

    # -- listing and deleting -----------------------------------------------------------------
    def _iter(self, prefix: str, action: str, **kwargs):
        try:
            it = self.bucket.client.list_blobs(self.bucket, prefix=prefix, **kwargs, **self._kw())
            return it, list(it)
        except Exception as exc:
            shown = prefix[len(self.root) + 1 :] if self.root else prefix
            raise self._fail(exc, action, shown) from exc

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._dir(prefix)
        cut = len(self.root) + 1 if self.root else 0
        _, blobs = self._iter(base, "list")
        return sorted((ObjectInfo(b.name[cut:], b.size or 0) for b in blobs), key=lambda o: o.key)

    def list_children(self, prefix: str) -> builtins.list[str]:
        base = self._dir(prefix)
        it, _ = self._iter(base, "list", delimiter="/")
        return sorted(p[len(base) :].rstrip("/") for p in it.prefixes)

    def delete_prefix(self, prefix: str) -> int:
        _, blobs = self._iter(self._dir(prefix), "delete")

        def delete(name: str) -> int:
            attempts = Attempts()
            try:
                self.bucket.blob(name).delete(**self._kw(attempts))
                return 1
            except Exception as exc:
                if status_of(exc) == 404:  # gone already; ours if our first attempt did it
                    return int(attempts.retried)
                raise self._fail(exc, "delete", name) from exc

        self._logs.forget_under(prefix.strip("/"))
        names = [b.name for b in blobs]
        if len(names) <= 1:
            return sum(map(delete, names))
        return sum(self._executor().map(delete, names))

    # -- logs -------------------------------------------------------------------------------
    def append_log(self, prefix: str, offset: int, data: bytes) -> None:
        if not data:
            return
        key = f"{prefix}/{chunk_name(offset)}"
        try:
            self.write_bytes(key, data, if_absent=True)
            return
        except JobExistsError:
            existing = self.read_bytes(key)
        # A chunk is already at this offset: a flush that landed although it reported a
        # failure, and the writer now retries with more data. Write only what is new.
        if data.startswith(existing) and existing:
            self.append_log(prefix, offset + len(existing), data[len(existing) :])
            return
        raise StorageError(
            f"log chunk {self._target(key)} already exists with other content: "
            "two writers are appending to the same log"
        )

    def read_log(self, prefix: str, offset: int = 0) -> tuple[bytes, int]:
        return self._logs.read(prefix.strip("/"), offset)

    def log_end(self, prefix: str) -> int:
        return self._logs.end(prefix.strip("/"))

    def _list_chunks(self, prefix: str, start: int) -> builtins.list[tuple[int, int]]:
        base = self._dir(prefix)
        _, blobs = self._iter(base, "list", start_offset=base + chunk_name(start))
        chunks = []
        for blob in blobs:
            begin = parse_chunk_name(blob.name)
            if begin is not None and "/" not in blob.name[len(base) :]:
                chunks.append((begin, blob.size or 0))
        return sorted(chunks)

    def _fetch_chunk(self, prefix: str, start: int, skip: int) -> bytes:
        key = f"{prefix}/{chunk_name(start)}"
        if skip == 0:
            return self.read_bytes(key)
        blob = self.bucket.blob(self._name(key))
        try:
            # A ranged read cannot be checksummed by the library; the chunk is immutable
            # and was checked whole when written.
            return blob.download_as_bytes(start=skip, checksum=None, **self._kw())
        except Exception as exc:
            if status_of(exc) == 404:
                raise ObjectNotFound(key, self.uri) from None
            raise self._fail(exc, "read", key) from exc
