"""JobSpec: every option of a job, validated once, JSON-serializable.

Validation happens when the decorator is applied (or a job is submitted), so a bad value is
reported with the option's name, the value, and what is accepted — before anything exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

from kinetic.model.errors import InvalidJobIdError, SpecError
from kinetic.model.json_record import known_fields
from kinetic.model.retry_policy import DEFAULT_BACKOFF, check_retry_options
from kinetic.model.spec_record import SpecRecord
from kinetic.spec import settings
from kinetic.spec.accelerators import parse_accelerator, split_spot
from kinetic.spec.debugger_options import MAX_DEBUG_WAIT, check_debug
from kinetic.spec.dependency_options import check_depends_on
from kinetic.spec.kueue_options import check_priority_class, check_queue
from kinetic.spec.notify_options import (
    NOTIFY_SECRET_KEY,
    check_notify,
    check_notify_on,
    notify_setting,
)
from kinetic.spec.placement import check_placement
from kinetic.spec.ports import check_ports, check_public_key
from kinetic.spec.project_files import check_working_dir
from kinetic.spec.requirements import check_requirements, resolve_requirements
from kinetic.spec.resources import RESOURCE_OPTIONS, check_cpu_cores, check_resource
from kinetic.spec.slurm_options import check_partition, check_slurm_options
from kinetic.store.layout import validate_job_id
from kinetic.wire.notification import url_host

BACKENDS = ("local", "kubernetes", "slurm")
MAX_TIMEOUT = 7 * 24 * 3600
MAX_GRACE = 3600
# The one place each default is written: the JobSpec fields below, and readers of a stored
# spec (handle.json, a KineticJob) that fall back to them, use these names.
DEFAULT_GRACE_PERIOD = 30.0  # seconds between the stop signal and the kill
DEFAULT_ACCELERATOR = "cpu"
DEFAULT_OUTPUT_SYNC = 10.0  # seconds from an output file's last change to the store
MAX_OUTPUT_SYNC = 3600
DEFAULT_DEBUG_WAIT = 300.0  # debug=True: seconds the job waits for a debugger to attach
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?\Z|^\*\Z")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


@dataclass(frozen=True)
class JobSpec:
    accelerator: str = DEFAULT_ACCELERATOR
    spot: bool = False  # kubernetes: on spot (preemptible) nodes; also "<accelerator>:spot"
    backend: str | None = None  # None: resolved from settings at submission
    store: str | None = None  # None: resolved from settings at submission
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    capture_env: tuple[str, ...] = ()
    timeout: float | None = None
    grace_period: float = DEFAULT_GRACE_PERIOD
    namespace: str | None = None
    image: str | None = None
    cpu: Any = None  # a quantity, or {"request": q, "limit": q}; see kinetic.spec.resources
    memory: Any = None
    ephemeral_storage: Any = None
    cpu_cores: str | None = None  # local backend: pin to these cores ("0-1")
    files: Any = None  # [paths] or {name: bytes}: into the job's working directory
    upload: bool = True  # keep the files the job writes under KINETIC_OUTPUT_DIR
    output_sync: float | None = DEFAULT_OUTPUT_SYNC  # None: copied once, at the job's end
    resume: bool | None = None  # None: on when retries is set (attempts restore outputs)
    resume_from: str | None = None  # a job id: start from that job's outputs
    start_at: Any = None  # a datetime or ISO-8601 text; kept as ISO UTC ("…Z")
    retries: int = 0  # per budget: infrastructure failures, and errors with retry_on_error
    retry_backoff: float = DEFAULT_BACKOFF  # seconds before the first retry; doubles, capped
    retry_on_error: bool = False  # also retry failures of the job's own code
    runtime: str | None = None  # kubernetes: an image from the operator's runtime table
    volumes: Any = None  # kubernetes: ["claim:/path[:ro]", {"type": "memory", …}]
    network: str | None = None  # kubernetes: pods only this network's members may reach
    ports: Any = ()  # Port, dict or "name:port/proto" items; kept as a tuple of Port
    ssh: bool = False  # adds Port("ssh", 2202) and runs sshd with ssh_public_key
    ssh_public_key: str | None = None  # key text or a .pub path; kept as the key text
    debug: bool = False  # debugpy in the job on its port "debug" (kinetic jobs debug ID)
    debug_wait: float = DEFAULT_DEBUG_WAIT  # then the function runs, attached or not
    partition: str | None = None  # slurm: the partition (also slurm={"partition": …})
    slurm: Any = None  # slurm: account, qos, constraint, gpu_type, python, flags
    working_dir: Any = None  # a directory shipped with the job, which runs in its copy
    requirements: Any = None  # [lines], a requirements file, or "auto"; see spec.requirements
    depends_on: Any = ()  # job handles or ids to wait for; kept as a tuple of ids
    queue: str | None = None  # kubernetes: a Kueue LocalQueue; the Job waits for admission
    priority_class: str | None = None  # kubernetes: a Kueue WorkloadPriorityClass
    notify_on: Any = None  # some of failed, succeeded, cancelled; None: all
    # Values never leave this object in serialized form: to_dict() keeps only the names
    # (of notify=: only the URLs' hosts; None takes the "notify" setting when resolved).
    notify: Any = field(default=None, repr=False)
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        accelerator, suffixed = split_spot(self.accelerator)
        set_(self, "accelerator", parse_accelerator(_require_str("accelerator", accelerator)).spec)
        if not isinstance(self.spot, bool):
            raise SpecError("spot", self.spot, "True or False")
        set_(self, "spot", self.spot or suffixed)
        if self.spot and self.backend == "slurm":
            raise SpecError("spot", True, "False with backend='slurm' (it has no spot nodes)")
        if self.backend is not None:
            set_(self, "backend", _check_backend(self.backend))
        if self.store is not None:
            from kinetic.store import normalize_uri

            set_(self, "store", normalize_uri(self.store))
        if self.name is not None:
            _check_name(self.name)
        set_(self, "env", _check_env(self.env))
        set_(self, "secret_env", _check_env(self.secret_env, "secret_env"))
        if clash := sorted(set(self.env) & set(self.secret_env)):
            raise SpecError("secret_env", clash[0], "names not also given in env")
        set_(self, "capture_env", _check_capture(self.capture_env))
        set_(self, "timeout", _check_seconds("timeout", self.timeout, MAX_TIMEOUT, True))
        set_(self, "grace_period", _check_seconds("grace_period", self.grace_period, MAX_GRACE))
        if self.namespace is not None and not _NAMESPACE.match(str(self.namespace)):
            raise SpecError("namespace", self.namespace, "a Kubernetes namespace name (RFC 1123)")
        if self.image is not None:
            _require_str("image", self.image)
        for option in RESOURCE_OPTIONS:
            set_(self, option, check_resource(option, getattr(self, option)))
        set_(self, "cpu_cores", check_cpu_cores(self.cpu_cores))
        set_(self, "start_at", _check_start_at(self.start_at))
        set_(self, "depends_on", check_depends_on(self.depends_on))
        set_(self, "files", _check_files(self.files))
        set_(self, "requirements", check_requirements(self.requirements))
        set_(self, "working_dir", check_working_dir(self.working_dir))
        retry = check_retry_options(self.retries, self.retry_backoff, self.retry_on_error)
        set_(self, "retries", retry[0])
        set_(self, "retry_backoff", retry[1])
        if not isinstance(self.upload, bool):
            raise SpecError("upload", self.upload, "True or False")
        set_(self, "output_sync",
             _check_seconds("output_sync", self.output_sync, MAX_OUTPUT_SYNC, True))  # fmt: skip
        if self.resume is not None and not isinstance(self.resume, bool):
            raise SpecError("resume", self.resume, "True, False or None")
        if self.resume_from is not None:
            try:
                validate_job_id(self.resume_from)
            except InvalidJobIdError:
                raise SpecError("resume_from", self.resume_from, "a job id") from None
        if (self.resume or self.resume_from) and not self.upload:
            raise SpecError("upload", self.upload, "True (resume needs the job's outputs)")
        placement = check_placement(self.runtime, self.image, self.volumes, self.network)
        for option, value in placement.items():  # see kinetic.spec.placement
            set_(self, option, value)
        set_(self, "ports", check_ports(self.ports, self.ssh))
        set_(self, "ssh_public_key", check_public_key(self.ssh_public_key, self.ssh))
        set_(self, "ports", check_debug(self.debug, self.ports))
        set_(self, "debug_wait", _check_seconds("debug_wait", self.debug_wait, MAX_DEBUG_WAIT))
        set_(self, "partition", check_partition(self.partition))
        set_(self, "slurm", check_slurm_options(self.slurm, self.partition))
        set_(self, "queue", check_queue(self.queue))
        set_(self, "priority_class", check_priority_class(self.priority_class, self.queue))
        if self.notify is not None:
            set_(self, "notify", check_notify(self.notify))
        set_(self, "notify_on", check_notify_on(self.notify_on))
        if self.slurm and self.backend not in (None, "slurm"):
            raise SpecError("slurm", self.slurm, "backend='slurm' (SLURM options need it)")

    @classmethod
    def from_options(cls, **options: Any) -> JobSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise SpecError("option", unknown[0], f"one of {', '.join(sorted(known))}")
        return cls(**options)

    def resolved(self) -> JobSpec:
        """This spec with backend and store filled in from settings (argument > env > file)."""
        return dataclasses.replace(
            self,
            backend=settings.resolve("backend", self.backend).value,
            store=settings.resolve("store", self.store).value,
            namespace=self.namespace or settings.resolve("namespace").value,
            # A runtime is the image: the configured default image must not join it.
            image=self.image or (None if self.runtime else settings.resolve("image").value),
            requirements=resolve_requirements(self.requirements),
            notify=self.notify
            if self.notify is not None
            else notify_setting(settings.resolve("notify").value),
        )

    def captured_env(self) -> dict[str, str]:
        """The caller's variables that ``capture_env`` selects, read now."""
        found: dict[str, str] = {}
        for pattern in self.capture_env:
            if pattern.endswith("*"):
                prefix = pattern[:-1]
                found.update({k: v for k, v in os.environ.items() if k.startswith(prefix)})
            elif pattern in os.environ:
                found[pattern] = os.environ[pattern]
        return found

    def runner_secrets(self) -> dict[str, str]:
        """What only the runner receives (its stdin, a pod's Secret): secret_env's values
        and the notify URLs, one a line, under a key no environment variable can have."""
        if not self.notify:
            return dict(self.secret_env)
        return {**self.secret_env, NOTIFY_SECRET_KEY: "\n".join(self.notify)}

    def to_dict(self) -> SpecRecord:
        """JSON-ready, for handle.json and the KineticJob: secret values are left out."""
        data = dataclasses.asdict(self)
        data["capture_env"] = list(self.capture_env)
        data["secret_env_names"] = sorted(data.pop("secret_env"))
        data["notify_hosts"] = [url_host(url) for url in data.pop("notify") or ()]
        if self.notify_on is not None:
            data["notify_on"] = list(self.notify_on)
        data["files"] = sorted(self.files or {})  # names only: contents go in the payload
        data["ports"] = [p.to_dict() for p in self.ports]
        data["depends_on"] = list(self.depends_on)
        if isinstance(self.requirements, tuple):
            data["requirements"] = list(self.requirements)
        return cast(SpecRecord, data)

    @classmethod
    def from_dict(cls, data: SpecRecord | dict[str, Any]) -> JobSpec:
        """A spec from to_dict() output: file contents and secret values are not in it."""
        return cls(**known_fields(cls, cast(dict[str, Any], data), exclude=("files", "secret_env")))

    def file_contents(self) -> dict[str, tuple[bytes, int]]:
        """The files to ship, read now: name -> (content, permission bits)."""
        contents = {}
        for name, source in (self.files or {}).items():
            if isinstance(source, bytes):
                contents[name] = (source, 0o644)
            else:
                try:
                    contents[name] = (
                        Path(source).read_bytes(),
                        Path(source).stat().st_mode & 0o777,
                    )
                except OSError as exc:
                    raise SpecError("files", source, f"a readable file ({exc.strerror})") from None
        return contents


def _require_str(option: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(option, value, "a non-empty string")
    return value.strip()


def _check_backend(value: object) -> str:
    if value not in BACKENDS:
        raise SpecError("backend", value, f"one of {', '.join(BACKENDS)}")
    return str(value)


def _check_name(value: object) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= 100 or not value.isprintable():
        raise SpecError("name", value, "a printable string of 1-100 characters")


def _check_env(value: object, option: str = "env") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        shown = "<hidden>" if option == "secret_env" else value
        raise SpecError(option, shown, "a dict of variable name -> string value")
    checked = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise SpecError(option, key, "variable names of letters, digits and '_'")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            shown = "<hidden>" if option == "secret_env" else item
            raise SpecError(f"{option}[{key!r}]", shown, "a string (or a number, kept as text)")
        text = str(item)
        if "\x00" in text:  # execve() cannot carry it: the job would fail in its setup
            shown = "<hidden>" if option == "secret_env" else item
            raise SpecError(f"{option}[{key!r}]", shown, "text without NUL characters ('\\x00')")
        checked[key] = text
    return checked


def _check_capture(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise SpecError("capture_env", value, "a list of variable names or PREFIX* patterns")
    for item in items:
        if not isinstance(item, str) or not _ENV_PATTERN.match(item):
            raise SpecError("capture_env", item, "a variable name or a PREFIX* pattern")
    return tuple(items)


def _check_seconds(
    option: str, value: object, upper: float, allow_none: bool = False
) -> float | None:
    if value is None and allow_none:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    lower_ok = ok and (value > 0 if allow_none else value >= 0)  # type: ignore[operator]
    if not (ok and lower_ok and value <= upper):  # type: ignore[operator]
        bound = "> 0" if allow_none else ">= 0"
        none = " or None" if allow_none else ""
        raise SpecError(option, value, f"seconds {bound} and <= {int(upper)}{none}")
    return float(value)  # type: ignore[arg-type]


MAX_START_DELAY = 365 * 24 * 3600
# A start time this far in the past is still "now": the caller's clock, or the time spent
# between computing it and submitting.
START_AT_SLACK = 60.0


def _check_start_at(value: object) -> str | None:
    """ISO UTC text; a time without a zone means this machine's local time."""
    if value is None:
        return None
    from datetime import datetime

    from kinetic.model.status import format_time, utcnow

    accepted = "a datetime or ISO-8601 text (2026-12-01T09:00:00Z), within a year"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SpecError("start_at", value, accepted) from None
    if not isinstance(value, datetime):
        raise SpecError("start_at", value, accepted)
    when = value if value.tzinfo else value.astimezone()  # naive: local time
    ahead = (when - utcnow()).total_seconds()
    if ahead > MAX_START_DELAY:
        raise SpecError("start_at", value, accepted)
    if ahead < -START_AT_SLACK:  # most likely a typo (a year, a zone): do not run at once
        raise SpecError(
            "start_at", format_time(when),
            f"a time not in the past (it is now {format_time(utcnow())}); "
            "omit start_at to start at once",
        )  # fmt: skip
    return format_time(when)


def _check_files(value: object) -> dict[str, Path | bytes] | None:
    """name -> Path (read at submission) or bytes; names are safe relative paths."""
    if value is None:
        return None
    accepted = "a list of file paths, or a dict of relative name -> bytes"
    found: dict[str, Path | bytes] = {}
    if isinstance(value, list | tuple):
        for item in value:
            path = Path(item) if isinstance(item, str | os.PathLike) else None
            if path is None or not path.is_file():
                raise SpecError("files", item, "paths of existing regular files")
            if path.name in found:
                raise SpecError("files", item, "files with different names")
            found[path.name] = path.resolve()
        return found
    if not isinstance(value, dict):
        raise SpecError("files", value, accepted)
    for name, content in value.items():
        parts = PurePosixPath(name).parts if isinstance(name, str) else ()
        if not parts or name.startswith("/") or ".." in parts:
            raise SpecError("files", name, "relative names inside the working directory")
        if isinstance(content, Path):  # a file to read at submission (as a list gives)
            if not content.is_file():
                raise SpecError("files", str(content), "paths of existing regular files")
        elif isinstance(content, str):
            content = content.encode()
        elif not isinstance(content, bytes):
            raise SpecError(f"files[{name!r}]", type(content).__name__, "bytes or text")
        found[name] = content
    return found
