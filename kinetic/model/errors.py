"""Every exception Kinetic raises derives from KineticError."""

from __future__ import annotations

from typing import Any

from kinetic.model.reasons import Reason


class KineticError(Exception):
    """Base class of all Kinetic errors."""


class SpecError(KineticError, ValueError, TypeError):
    """A job option or an argument is invalid. Raised before anything is created.

    It is both a ValueError and a TypeError, so code that guards a call with either (as it
    would for a plain Python function given a bad value or a wrong kind) still catches it.
    """

    def __init__(self, option: str, value: object, accepted: str):
        self.option, self.value, self.accepted = option, value, accepted
        super().__init__(f"invalid {option}={value!r}: {accepted}")


class SerializationError(KineticError, TypeError):
    """The function, an argument, or a result cannot be pickled."""


class VersionSkewError(SerializationError):
    """The job's interpreter cannot load what the caller pickled (Python or cloudpickle
    versions differ); the message names both sides and what to do."""


class IntegrityError(KineticError):
    """An artifact's SHA-256 does not match the digest recorded for it."""


class StorageError(KineticError):
    """The store could not be read or written."""


class JobExistsError(StorageError):
    """A write-once record (handle, result) already exists: a job id collision."""


class BackendError(KineticError):
    """The backend could not start, inspect or stop a job."""


class InvalidJobIdError(KineticError, ValueError):
    """A job id that could reach outside the store, or is otherwise malformed."""


class JobNotFoundError(KineticError, LookupError):
    """No record of the job exists (never created, or cleaned up)."""

    def __init__(self, job_id: str, where: str = "", cleaned_up: str | None = None):
        self.job_id, self.cleaned_up = job_id, cleaned_up
        suffix = f" in {where}" if where else ""
        if cleaned_up:  # what the store remembers of a removed job (its tombstone)
            suffix += f": it was cleaned up at {cleaned_up}"
        super().__init__(f"no job {job_id!r}{suffix}")


class JobFailedError(KineticError):
    """The job failed without an exception of its own to re-raise (OOM, exit code, lost…)."""

    def __init__(
        self,
        job_id: str,
        reason: str | None,
        message: str | None = None,
        exit_code: int | None = None,
    ):
        self.job_id, self.reason, self.exit_code = job_id, reason, exit_code
        self.detail = message
        text = f"job {job_id} failed"
        if reason:
            text += f" ({reason})"
        if message:
            text += f": {message}"
        super().__init__(text)


class RemoteError(JobFailedError):
    """The job raised an exception that cannot be rebuilt here (its type is not importable)."""

    def __init__(self, job_id: str, type_name: str, message: str, traceback: str):
        self.type_name, self.remote_message, self.remote_traceback = type_name, message, traceback
        super().__init__(job_id, Reason.USER_ERROR, f"{type_name}: {message}")


class JobCancelledError(KineticError):
    """result() was asked of a job that was cancelled."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(f"job {job_id} was cancelled; it has no result")


class BatchError(KineticError):
    """Some items of a batch did not succeed (``results()`` without return_exceptions).

    ``failures``: the failed items (kinetic.model.batch_record.ItemFailure: index, input
    repr, reason, exception); ``partial_results``: index -> value of every item that
    succeeded; ``submission_failures``: items that could not be submitted (always empty
    here: a batch is submitted all or nothing; kept for keras-team/kinetic's API).
    """

    def __init__(
        self,
        batch_id: str,
        failures: list[Any],
        partial_results: dict[int, Any],
        submission_failures: list[Any] | None = None,
    ):
        self.batch_id = batch_id
        self.failures, self.partial_results = failures, partial_results
        self.submission_failures = submission_failures or []
        first = f"; first: {failures[0]}" if failures else ""
        super().__init__(
            f"batch {batch_id}: {len(failures)} item(s) did not succeed, "
            f"{len(partial_results)} did{first}"
        )


class RetryRefusedError(KineticError):
    """A job cannot be retried: still running, succeeded (without ``force``), or its
    payload is gone; the message says which and what would allow it."""

    def __init__(self, job_id: str, why: str):
        self.job_id, self.why = job_id, why
        super().__init__(f"cannot retry job {job_id}: {why}")
