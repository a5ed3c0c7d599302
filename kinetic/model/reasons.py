"""Reason: why a job is in its phase — one vocabulary for the local state.json, the
KineticJob's status, ``JobState.reason`` and the CLI.

Kinetic's own reasons are written by the runner, the backends and the operator. Kubernetes
reasons that Kinetic passes on unchanged (a pod waiting on ``ImagePullBackOff``, a pod
``Unschedulable``) are members too, so the values a user sees are all listed here; a
reason Kubernetes adds later still reaches ``JobState.reason`` as its plain string.
A member is a ``str``: ``Reason.LOST == "Lost"`` and JSON carries the plain value.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    # -- while waiting ------------------------------------------------------------------
    STARTING = "Starting"  # recorded, the runner not yet reporting
    SCHEDULED = "Scheduled"  # start_at not reached, or the pod is placed and starting
    RETRYING = "Retrying"  # an attempt failed; the next one waits for its backoff
    QUEUED = "Queued"  # waiting in a scheduler's queue (SLURM's reason in the message)
    SUSPENDED = "Suspended"  # the Job is suspended (e.g. by a queue)
    STORE_NOT_SHARED = "StoreNotShared"  # a file:// store the cluster's nodes cannot see
    BATCH_QUEUED = "BatchQueued"  # a batch's item waiting for a slot (max_concurrent)
    WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"  # depends_on / handles as arguments
    # -- stopping -----------------------------------------------------------------------
    CANCELLING = "Cancelling"
    TERMINATING = "Terminating"  # a pod being deleted that the Job controller will replace
    # -- how a job ended ----------------------------------------------------------------
    CANCELLED = "Cancelled"
    BATCH_STOPPED = "BatchStopped"  # a batch's item never started: another failed (fail_fast)
    CLEANED_UP = "CleanedUp"  # removed by result() or cleanup; a tombstone says when
    USER_ERROR = "UserError"  # the function raised
    EXIT_CODE = "Error"  # a command (or the runner) exited non-zero
    RESULT_NOT_SERIALIZABLE = "ResultNotSerializable"
    OUTPUTS_NOT_SAVED = "OutputsNotSaved"
    DEADLINE = "DeadlineExceeded"  # the timeout
    OOM = "OOMKilled"
    KILLED = "Killed"  # SIGKILL from outside
    CRASHED = "Crashed"  # another signal
    LOST = "Lost"  # the runner or its pod vanished without a record
    EVICTED = "Evicted"
    PREEMPTED = "Preempted"
    RUNNER_ERROR = "RunnerError"  # Kinetic's own code failed around the function
    SSH_UNAVAILABLE = "SshUnavailable"
    DEBUGGER_UNAVAILABLE = "DebuggerUnavailable"  # debug=True without debugpy in the job
    STORE_UNAVAILABLE = "StoreUnavailable"  # the store refused the job's records (read-only, full…)
    UNKNOWN_RUNTIME = "UnknownRuntime"
    VERSION_SKEW = "VersionSkew"  # the job's Python or cloudpickle cannot load the payload
    DEPENDENCY_INSTALL_FAILED = "DependencyInstallFailed"  # requirements= did not install
    DEPENDENCY_FAILED = "DependencyFailed"  # a job it depends on failed or was cancelled
    # -- Kubernetes' own, passed on --------------------------------------------------------
    UNSCHEDULABLE = "Unschedulable"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    ERR_IMAGE_PULL = "ErrImagePull"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    NODE_UNREACHABLE = "NodeUnreachable"
