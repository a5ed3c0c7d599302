"""What ``handle.json`` holds: the record of a submitted job (pure data).

The client writes it once at submission; every process that finds the job again reads it
back (``kinetic.attach``, listings, the CLI). Backends take and return records; the
caller's behaviour around a record (waiting, logs, results) is ``kinetic.client.handle``'s
``JobHandle``, a subclass, so no backend ever builds a client object.
"""

from __future__ import annotations

import dataclasses
import json
import marshal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from kinetic.model.spec_record import SpecRecord


def function_name(function: str) -> str:
    """The short name a listing shows for a record's ``function``: "train" for
    "pkg.module.train", and "command:NAME" for kinetic.submit() jobs as it is."""
    if function.startswith("command:"):
        return function
    return function.rpartition(".")[2]


@dataclass
class JobRecord:
    job_id: str
    backend: str
    store: str
    function: str  # "module.qualname", or "command:NAME" for kinetic.submit() jobs
    created: str
    name: str | None = None
    spec: SpecRecord = field(default_factory=lambda: SpecRecord())  # JobSpec.to_dict()
    payload_sha256: str | None = None
    command: list[str] | None = None  # set for kinetic.submit() jobs
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific (namespace…)
    # The submitter's Python, cloudpickle and Kinetic versions (kinetic.wire.version_skew),
    # outside the pickle so the job can judge them before it unpickles anything; and the
    # project shipped with working_dir= (its content hash, whether this job uploaded it).
    client: dict[str, Any] = field(default_factory=dict)
    # A batch's item (f.run_async_map): {"id": BATCH_ID, "index": i}; its function is the
    # batch's, stored once (kinetic.store.layout.batch_function_key).
    batch: dict[str, Any] | None = None
    # The job this one retries (kinetic.client.job_retry); the link the other way is the
    # original's ``retried_as/`` markers (handle.json is written once, so never updated).
    retry_of: str | None = None
    # A workflow's job (kinetic.client.workflow_run): {"id", "name", "generation",
    # "members": {name: job id}, "started", "notify_on", "summary"}; with "summary" the job
    # sends no notification of its own: the last member to end sends the workflow's one.
    workflow: dict[str, Any] | None = None

    if not TYPE_CHECKING:  # hidden from type checkers: they would accept any attribute

        def __getattr__(self, name: str) -> Any:
            """Reached only for an attribute that is not set: a listed record's ``spec``,
            ``extra`` and ``client``, kept encoded until first used (a listing may build
            100,000 records and read three fields of each; kinetic.backends.store_listing)."""
            body = self.__dict__.get("_deferred")
            if body is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            self.__dict__.update(marshal.loads(body))
            self.__dict__.pop("_deferred", None)
            return object.__getattribute__(self, name)

    @classmethod
    def record_fields(cls) -> list[str]:
        """The names that handle.json holds (a subclass's own state is not among them)."""
        return [f.name for f in dataclasses.fields(JobRecord)]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.record_fields()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build one, ignoring keys a newer Kinetic may have added."""
        known = set(cls.record_fields())
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_record(cls, record: JobRecord) -> Self:
        return cls.from_dict(record.to_dict())
