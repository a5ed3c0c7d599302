"""A workflow file (Joblet's shape) read and validated whole, before anything is created.

Where it sits: ``kinetic.workflow.run`` and `kinetic workflow run` (kinetic.client.
workflow_run) parse the file here into a ``WorkflowPlan``, then submit its jobs in order.
Every problem in the file is found first (unknown keys, duplicate names, unknown or cyclic
dependencies, bad options), each naming the job and the field, and raised together as one
SpecError; nothing exists yet when it is raised.

```yaml
version: "1"
name: nightly
defaults: {timeout: 3600}          # options every job starts from
jobs:
  - name: fetch
    command: python3               # a command job: command + args (strings)
    args: [fetch.py]
  - name: train
    function: "mypkg.train:main"   # a function job: args / kwargs (YAML values)
    kwargs: {data: {result_of: fetch}, epochs: 3}   # {result_of: JOB}: that job's value
    depends_on: [fetch]
    accelerator: l4
    secret_env: [WANDB_API_KEY]    # names; values read from the caller's environment
```
``jobs`` may also be a mapping of name → job. Each job takes every option of
``kinetic.run`` except ``backend``, ``store``, ``name`` and ``depends_on`` (the workflow's
own), which ``defaults`` may not set per job either; nor ``notify``/``notify_on``: a
workflow sends ONE summary when it ends (top-level ``notify: [url, …]`` and ``notify_on``,
default the config file's ``notify``), and its jobs none of their own.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.spec.job_spec import JobSpec
from kinetic.spec.notify_options import check_notify, check_notify_on

TOP_KEYS = ("version", "name", "description", "defaults", "backend", "store", "notify",
            "notify_on", "jobs")  # fmt: skip
OWN_KEYS = ("name", "command", "args", "function", "kwargs", "depends_on")
NOT_PER_JOB = ("backend", "store", "name", "depends_on")
# The workflow's own (one summary for all its jobs): refused per job, saying where they go.
WORKFLOW_ONLY = ("notify", "notify_on")
_AT_TOP = "nothing per job: set it at the workflow's top level (one summary for the workflow)"
_OPTIONS = tuple(
    f.name for f in dataclasses.fields(JobSpec) if f.name not in (*NOT_PER_JOB, *WORKFLOW_ONLY)
)
_NAME_OK = "a name of letters, digits, '-' and '_' (at most 40)"


@dataclass(frozen=True)
class ResultOf:
    """``{result_of: NAME}`` in a job's args or kwargs: the value of job NAME."""

    name: str


@dataclass(frozen=True)
class WorkflowJob:
    name: str
    command: tuple[str, ...] | None  # the full argv: command, then args
    function: str | None  # "module:callable"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # names of jobs of the same workflow
    options: dict[str, Any] = field(default_factory=dict)  # kinetic.run's options


@dataclass(frozen=True)
class WorkflowPlan:
    name: str
    jobs: tuple[WorkflowJob, ...]  # in an order where each job follows its dependencies
    source: str  # the file's text, kept in the workflow's record (retry reads it again)
    backend: str | None = None
    store: str | None = None
    notify: tuple[str, ...] | None = field(default=None, repr=False)  # None: the default
    notify_on: tuple[str, ...] | None = None  # None: every end

    def job(self, name: str) -> WorkflowJob:
        return next(j for j in self.jobs if j.name == name)

    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs."""
        return [(dep, j.name) for j in self.jobs for dep in j.depends_on]

    def downstream(self, names: set[str]) -> set[str]:
        """``names`` and every job that depends on one of them, directly or not."""
        found = set(names)
        for job in self.jobs:  # in order: a job's dependencies are judged before it
            if found.intersection(job.depends_on):
                found.add(job.name)
        return found


def read_source(path_or_text: str | os.PathLike[str]) -> str:
    """A file's text, or the text itself when it is YAML rather than a path."""
    if isinstance(path_or_text, os.PathLike):
        return Path(path_or_text).read_text()
    if not isinstance(path_or_text, str):
        raise SpecError("workflow", path_or_text, "a file path or YAML text")
    if "\n" not in path_or_text and ":" not in path_or_text:
        try:
            return Path(path_or_text).read_text()
        except OSError as exc:
            raise SpecError("workflow", path_or_text, f"a readable file ({exc.strerror})") from None
    return path_or_text


def parse_workflow(path_or_text: str | os.PathLike[str]) -> WorkflowPlan:
    """The validated plan; SpecError naming every problem (job and field) otherwise."""
    import yaml

    source = read_source(path_or_text)
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise SpecError("workflow", "YAML", f"valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise SpecError("workflow", type(doc).__name__, "a mapping with 'name' and 'jobs'")
    errors: list[SpecError] = []
    for key in doc:
        if key not in TOP_KEYS:
            errors.append(SpecError(str(key), doc[key], f"one of {', '.join(TOP_KEYS)}"))
    name = doc.get("name")
    if not isinstance(name, str) or not _name_ok(name):
        errors.append(SpecError("name", name, _NAME_OK))
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        errors.append(SpecError("defaults", defaults, "a mapping of job options"))
        defaults = {}
    for key in defaults:
        if key in WORKFLOW_ONLY:
            errors.append(SpecError(f"defaults.{key}", _shown(key, defaults[key]), _AT_TOP))
        elif key not in _OPTIONS:
            errors.append(SpecError(f"defaults.{key}", defaults[key], _options_text()))
    notify, notify_on = _workflow_notify(doc, errors)
    jobs = _job_entries(doc.get("jobs"), errors)
    seen: set[str] = set()
    parsed: list[WorkflowJob] = []
    for where, entry in jobs:
        job = _parse_job(where, entry, defaults, errors)
        if job is None:
            continue
        if job.name in seen:
            errors.append(SpecError(f"{where}.name", job.name, "a name no other job has"))
            continue
        seen.add(job.name)
        parsed.append(job)
    for job in parsed:
        for dep in job.depends_on:
            if dep not in seen:
                accepted = f"names of jobs of this workflow ({', '.join(sorted(seen))})"
                errors.append(SpecError(f"jobs[{job.name}].depends_on", dep, accepted))
    ordered = _order(parsed, errors) if not errors else []
    if errors:
        raise errors[0] if len(errors) == 1 else _together(errors)
    backend, store = doc.get("backend"), doc.get("store")
    return WorkflowPlan(str(name), tuple(ordered), source, backend, store, notify, notify_on)


def _workflow_notify(
    doc: dict[str, Any], errors: list[SpecError]
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The top-level ``notify`` (None when absent: the config file's default applies) and
    ``notify_on``, checked as a job's are."""
    notify = notify_on = None
    try:
        if doc.get("notify") is not None:
            notify = check_notify(doc["notify"])
        notify_on = check_notify_on(doc.get("notify_on"))
    except SpecError as exc:
        errors.append(exc)
    return notify, notify_on


def _shown(key: str, value: Any) -> Any:
    """What an error may show of a notify value: its hosts (a URL is a secret)."""
    if key != "notify":
        return value
    from kinetic.wire.notification import url_host

    items = [value] if isinstance(value, str) else value
    return [url_host(v) if isinstance(v, str) else v for v in items] if isinstance(
        items, list) else type(value).__name__  # fmt: skip


def _job_entries(value: Any, errors: list[SpecError]) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):  # name -> job
        entries = []
        for key, entry in value.items():
            entry = {"name": key, **entry} if isinstance(entry, dict) else entry
            entries.append((f"jobs[{key}]", entry))
        value = entries
    elif isinstance(value, list) and value:
        value = [
            (f"jobs[{e['name']}]" if isinstance(e, dict) and isinstance(e.get("name"), str)
             else f"jobs[{i}]", e)
            for i, e in enumerate(value)
        ]  # fmt: skip
    else:
        errors.append(SpecError("jobs", value, "a non-empty list (or mapping) of jobs"))
        return []
    good = []
    for where, entry in value:
        if isinstance(entry, dict):
            good.append((where, entry))
        else:
            errors.append(SpecError(where, entry, "a mapping of the job's fields"))
    return good


def _parse_job(
    where: str, entry: dict[str, Any], defaults: dict[str, Any], errors: list[SpecError]
) -> WorkflowJob | None:
    before = len(errors)
    for key in entry:
        if key in WORKFLOW_ONLY:
            errors.append(SpecError(f"{where}.{key}", _shown(key, entry[key]), _AT_TOP))
        elif key not in OWN_KEYS and key not in _OPTIONS:
            accepted = f"one of {', '.join(OWN_KEYS)} or a job option ({_options_text()})"
            errors.append(SpecError(f"{where}.{key}", entry[key], accepted))
    name = entry.get("name")
    if not isinstance(name, str) or not _name_ok(name):
        errors.append(SpecError(f"{where}.name", name, _NAME_OK))
    command, function = entry.get("command"), entry.get("function")
    args, kwargs = entry.get("args") or [], entry.get("kwargs") or {}
    argv: tuple[str, ...] | None = None
    if (command is None) == (function is None):
        errors.append(SpecError(f"{where}.command", command,
                                "either command (with args) or function, not both"))  # fmt: skip
    elif command is not None:
        if not isinstance(command, str) or not command.strip():
            errors.append(SpecError(f"{where}.command", command, "a program name or path"))
        elif not isinstance(args, list) or not all(isinstance(a, str | int | float) for a in args):
            errors.append(SpecError(f"{where}.args", args, "a list of strings"))
        elif "kwargs" in entry:
            errors.append(SpecError(f"{where}.kwargs", kwargs, "nothing: a command takes args"))
        else:
            argv = (command.strip(), *(str(a) for a in args))
    else:
        if not isinstance(function, str) or ":" not in function:
            errors.append(SpecError(f"{where}.function", function, "'module:callable'"))
        if not isinstance(args, list):
            errors.append(SpecError(f"{where}.args", args, "a list of values"))
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            errors.append(SpecError(f"{where}.kwargs", kwargs, "a mapping of name -> value"))
    depends = entry.get("depends_on") or []
    if isinstance(depends, str):
        depends = [depends]
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        errors.append(SpecError(f"{where}.depends_on", depends, "a list of job names"))
        depends = []
    options = {**defaults, **{k: v for k, v in entry.items() if k in _OPTIONS}}
    options = _checked_options(where, options, errors)
    if len(errors) > before:
        return None
    refs = _result_refs(args) + _result_refs(kwargs)
    depends = list(dict.fromkeys([*depends, *refs]))
    if function is not None:
        args = _with_refs(args)
        kwargs = _with_refs(kwargs)
    return WorkflowJob(str(name), argv, function, tuple(args) if function else (),
                       dict(kwargs) if function else {}, tuple(depends), options)  # fmt: skip


def _checked_options(
    where: str, options: dict[str, Any], errors: list[SpecError]
) -> dict[str, Any]:
    """Each option as JobSpec checks it; secret_env as names, read from this environment."""
    names = options.pop("secret_env", None)
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            errors.append(SpecError(f"{where}.secret_env", names, "a list of variable names"))
        else:
            missing = [n for n in names if n not in os.environ]
            if missing:
                errors.append(SpecError(f"{where}.secret_env", missing[0],
                                        "names of variables set in this environment"))  # fmt: skip
            else:
                options["secret_env"] = {n: os.environ[n] for n in names}
    try:
        JobSpec.from_options(**options)
    except SpecError as exc:
        shown = "<hidden>" if exc.option.startswith("secret_env") else exc.value
        errors.append(SpecError(f"{where}.{exc.option}", shown, exc.accepted))
    return options


def _result_refs(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        if set(value) == {"result_of"} and isinstance(value["result_of"], str):
            return [value["result_of"]]
        for item in value.values():
            found += _result_refs(item)
    elif isinstance(value, list):
        for item in value:
            found += _result_refs(item)
    return found


def _with_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"result_of"} and isinstance(value["result_of"], str):
            return ResultOf(value["result_of"])
        return {k: _with_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_refs(v) for v in value]
    return value


def _order(jobs: list[WorkflowJob], errors: list[SpecError]) -> list[WorkflowJob]:
    """The jobs with each after its dependencies (file order otherwise); a cycle is an error."""
    done: set[str] = set()
    ordered: list[WorkflowJob] = []
    left = list(jobs)
    while left:
        ready = [j for j in left if set(j.depends_on) <= done]
        if not ready:
            cycle = _a_cycle({j.name: j.depends_on for j in left})
            errors.append(SpecError(f"jobs[{cycle[0]}].depends_on", " -> ".join(cycle),
                                    "dependencies without a cycle"))  # fmt: skip
            return []
        for job in ready:
            ordered.append(job)
            done.add(job.name)
        left = [j for j in left if j.name not in done]
    return ordered


def _a_cycle(graph: dict[str, tuple[str, ...]]) -> list[str]:
    """One cycle among jobs that all wait on each other, as a path ending where it began."""
    path: list[str] = [next(iter(graph))]
    while True:
        nxt = next(d for d in graph[path[-1]] if d in graph)
        if nxt in path:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)


def _name_ok(name: str) -> bool:
    return 0 < len(name) <= 40 and all(c.isalnum() or c in "-_" for c in name)


def _options_text() -> str:
    return ", ".join(_OPTIONS)


def _together(errors: list[SpecError]) -> SpecError:
    joined = "; ".join(str(e) for e in errors)
    return SpecError("workflow", f"{len(errors)} problems", joined)
