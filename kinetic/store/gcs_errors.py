"""Retry policy and error translation for the ``gs://`` store.

Everything google-cloud-storage can raise is turned into a Kinetic error here, with a
message that names the object and says what to do: a missing bucket, missing or rejected
credentials, missing permissions, or transient failures that outlasted the retry budget.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kinetic.model.errors import KineticError, StorageError

if TYPE_CHECKING:
    from google.api_core.retry import Retry

# Env overrides, so job runners started in other processes (and tests that want a
# failure quickly) can be tuned without code.
DEADLINE_ENV = "KINETIC_GCS_RETRY_DEADLINE"
CHUNK_ENV = "KINETIC_GCS_CHUNK_MB"

OBJECT_ADMIN = "roles/storage.objectAdmin"


@dataclass(frozen=True)
class GCSSettings:
    """How hard the store tries, and how it talks to GCS.

    ``deadline`` bounds the retries of one request (one object write, one chunk of a
    resumable upload, one download with its resumptions); ``initial``/``maximum``/
    ``multiplier`` shape the exponential backoff, to which google-api-core adds full
    jitter. ``timeout`` is the per-request connect/read timeout.
    """

    deadline: float = 120.0
    initial: float = 0.5
    maximum: float = 16.0
    multiplier: float = 2.0
    timeout: float = 60.0
    # Large objects go up in resumable chunks of this size (a multiple of 256 KiB): the
    # library's own default. Big chunks mean few round trips; each chunk is held in
    # memory while it is sent, so this bounds an upload's memory whatever the object size.
    chunk_size: int = 100 * 1024 * 1024
    endpoint: str | None = None  # e.g. an emulator or proxy URL; default from the env

    @classmethod
    def from_env(cls, **overrides: object) -> GCSSettings:
        settings = cls()
        if raw := os.environ.get(DEADLINE_ENV):
            try:
                settings = replace(settings, deadline=float(raw))
            except ValueError:
                raise StorageError(f"{DEADLINE_ENV}={raw!r} is not a number of seconds") from None
        if raw := os.environ.get(CHUNK_ENV):
            if not raw.isdigit() or int(raw) < 1:
                raise StorageError(f"{CHUNK_ENV}={raw!r} is not a whole number of MiB (>= 1)")
            settings = replace(settings, chunk_size=int(raw) * 1024 * 1024)
        return replace(settings, **overrides)  # type: ignore[arg-type]


class Attempts:
    """Records the retryable errors one operation met (for messages and 412 handling)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    @property
    def retried(self) -> bool:
        return bool(self.errors)


def is_transient(exc: BaseException) -> bool:
    """429, 408, 5xx, connection resets and timeouts: worth another try."""
    from google.cloud.storage.retry import _should_retry

    if _should_retry(exc):
        return True
    # A reset can surface wrapped (requests -> urllib3 -> OSError) in ways the library's
    # list does not name; any OSError-level failure of the transport is transient too.
    return isinstance(exc, ConnectionResetError | TimeoutError | BrokenPipeError)


def make_retry(settings: GCSSettings, attempts: Attempts) -> Retry:
    """A google-api-core Retry for one operation, reporting each failure to ``attempts``."""
    from google.api_core.retry import Retry

    return Retry(
        predicate=is_transient,
        initial=settings.initial,
        maximum=settings.maximum,
        multiplier=settings.multiplier,
        timeout=settings.deadline,
        on_error=attempts.on_error,
    )


def describe(exc: BaseException | None) -> str:
    """One line about a low-level error, without the library's noise."""
    if exc is None:
        return "unknown error"
    from google.api_core import exceptions as gexc
    from google.cloud.storage.exceptions import InvalidResponse

    if isinstance(exc, gexc.RetryError):
        return describe(exc.cause)
    if isinstance(exc, InvalidResponse | gexc.GoogleAPICallError):
        status = _status(exc)
        text = _server_message(getattr(exc, "response", None))
        if not text and isinstance(exc, gexc.GoogleAPICallError):
            text = exc.message or ""
        return f"HTTP {status}" + (f": {_short(text)}" if text else "")
    return f"{type(exc).__name__}: {_short(str(exc))}"


def _server_message(response: object) -> str:
    """GCS puts the useful sentence in the JSON body's error.message."""
    text = (getattr(response, "text", "") or "").strip() if response is not None else ""
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status(exc: BaseException) -> int | None:
    from google.api_core import exceptions as gexc
    from google.cloud.storage.exceptions import InvalidResponse

    if isinstance(exc, InvalidResponse):
        return exc.response.status_code
    if isinstance(exc, gexc.GoogleAPICallError):
        return exc.code
    return None


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an error, looking through RetryError."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        return _status(exc.cause)
    return _status(exc)


# -- setup errors: say what to do ------------------------------------------------------------
def bucket_missing(bucket: str, uri: str) -> StorageError:
    return StorageError(
        f"bucket {bucket!r} does not exist (store {uri}). Create it with "
        f"`gcloud storage buckets create gs://{bucket} --location=REGION`, or point the store "
        "at an existing bucket (KINETIC_STORE=gs://BUCKET/PREFIX)"
    )


def no_credentials(uri: str, detail: str) -> StorageError:
    return StorageError(
        f"no Google Cloud credentials for store {uri} ({_short(detail, 200)}). Run "
        "`gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to "
        "a service account key file (on GKE, use Workload Identity)"
    )


_PRINCIPAL = re.compile(r"([\w.+-]+@[\w.-]+) does not have ([\w.]+) access")


def access_denied(target: str, exc: BaseException, principal: str | None) -> StorageError:
    text = describe(exc)
    match = _PRINCIPAL.search(text)
    permission = None
    if match:
        principal = principal or match.group(1)
        permission = match.group(2)
    who = principal or "the active credentials"
    what = f" ({permission})" if permission else ""
    bucket = target.split("/")[2] if target.startswith("gs://") else target
    member = (
        f"serviceAccount:{principal}"
        if principal and "gserviceaccount" in principal
        else (f"user:{principal}" if principal else "PRINCIPAL")
    )
    return StorageError(
        f"access denied to {target}: {who} lacks permission{what}. Grant {OBJECT_ADMIN} on the "
        f"bucket: `gcloud storage buckets add-iam-policy-binding gs://{bucket} "
        f"--member={member} --role={OBJECT_ADMIN}` ({text})"
    )


def translate(
    exc: BaseException,
    action: str,
    target: str,
    principal: str | None = None,
    deadline: float | None = None,
) -> KineticError:
    """The Kinetic error for a failed ``action`` on ``target`` (a gs:// URI)."""
    if isinstance(exc, KineticError):
        return exc
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return no_credentials(target, str(exc))
    if isinstance(exc, auth_exc.RefreshError):
        return StorageError(
            f"could not {action} {target}: the Google Cloud credentials could not be refreshed "
            f"({_short(str(exc), 200)}). Run `gcloud auth application-default login` again, "
            "or check GOOGLE_APPLICATION_CREDENTIALS"
        )
    if isinstance(exc, gexc.RetryError):
        budget = f"{deadline:g}s" if deadline is not None else "the whole retry budget"
        return StorageError(
            f"could not {action} {target}: still failing after retrying for {budget}; "
            f"last error: {describe(exc.cause)}"
        )
    status = status_of(exc)
    if status == 401:
        return StorageError(
            f"could not {action} {target}: the credentials were rejected ({describe(exc)}). "
            "Run `gcloud auth application-default login`, or check GOOGLE_APPLICATION_CREDENTIALS"
        )
    if status == 403:
        return access_denied(target, exc, principal)
    if is_transient(exc):
        return StorageError(f"could not {action} {target}: {describe(exc)} (retries exhausted)")
    return StorageError(f"could not {action} {target}: {describe(exc)}")
