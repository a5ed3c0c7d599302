"""The ``requirements=`` option: which packages a job's environment has on top of its image.

Accepted at decoration as a list of requirement lines, a path to a requirements file, or
``"auto"`` (the caller's project's requirements.txt, else its pyproject.toml's
``[project].dependencies``, looked up from the working directory upwards). At submission
``resolve_requirements`` turns each into one normalized tuple of lines — requirements and
the index options ``--index-url``, ``--extra-index-url``, ``--find-links``, ``--no-index``
— which is what handle.json carries and what the job hashes (``environment_key``) to find
or build its cached environment (kinetic.job.environment). Index URLs may name secrets as
``${VAR}`` (from ``secret_env``): the job expands them, so a credential is never stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from kinetic.model.errors import SpecError

AUTO = "auto"
ACCEPTED = (
    "a list of requirement strings (e.g. ['pandas>=2']), a path to a requirements file, or 'auto'"
)
# Flags a requirements file may carry, and the one spelling each is kept under.
_OPTIONS = {
    "-i": "--index-url", "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links", "--find-links": "--find-links",
    "--no-index": "--no-index",
}  # fmt: skip
_INCLUDE = ("-r", "--requirement")
# A PEP 508 requirement starts with a distribution name (URLs and extras may follow).
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")
# Packages the image provides and an environment must not shadow.
_PROVIDED = {"kinetic"}


def check_requirements(value: object) -> tuple[str, ...] | str | None:
    """Decoration-time check: normalized lines, ``"auto"``, or a requirements file's path."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == AUTO:
        return AUTO
    if isinstance(value, str | os.PathLike):
        path = Path(value).expanduser()
        if not path.is_file():
            raise SpecError("requirements", str(value), ACCEPTED + " (no such file)")
        return str(path.resolve())
    if isinstance(value, list | tuple):
        if not all(isinstance(item, str) for item in value):
            raise SpecError("requirements", value, ACCEPTED)
        return normalize_lines(list(value), Path.cwd(), "requirements") or None
    raise SpecError("requirements", value, ACCEPTED)


def resolve_requirements(value: tuple[str, ...] | str | None) -> tuple[str, ...] | None:
    """Submission-time: the lines the job installs (files read now, 'auto' looked up now)."""
    if value is None or isinstance(value, tuple):
        return value or None
    if value == AUTO:
        return find_project_requirements(Path.cwd())
    return read_requirements_file(Path(value)) or None


def read_requirements_file(path: Path, _seen: frozenset[Path] = frozenset()) -> tuple[str, ...]:
    path = path.resolve()
    if path in _seen:
        raise SpecError("requirements", str(path), "files that do not include themselves")
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError("requirements", str(path), f"a readable file ({exc.strerror})") from None
    lines: list[str] = []
    for line in _logical_lines(text):
        flag, _, rest = line.partition(" ")
        if flag in _INCLUDE or line.startswith("--requirement="):
            target = rest.strip() or line.partition("=")[2]
            lines += read_requirements_file(path.parent / target, _seen | {path})
        else:
            lines.append(line)
    return normalize_lines(lines, path.parent, f"requirements ({path.name})")


def find_project_requirements(start: Path) -> tuple[str, ...]:
    """The nearest requirements.txt, else pyproject.toml dependencies, from ``start`` up to
    the project's root (the first directory holding either, or a .git)."""
    for directory in [start, *start.parents]:
        requirements = directory / "requirements.txt"
        if requirements.is_file():
            return read_requirements_file(requirements)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            return _pyproject_dependencies(pyproject)
        if (directory / ".git").exists():
            break
    raise SpecError(
        "requirements", AUTO,
        f"a requirements.txt or a pyproject.toml with [project].dependencies in {start} or "
        "a parent directory up to the project's root",
    )  # fmt: skip


def _pyproject_dependencies(path: Path) -> tuple[str, ...]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError("requirements", str(path), f"a readable pyproject.toml ({exc})") from None
    deps = (data.get("project") or {}).get("dependencies")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise SpecError("requirements", str(path), "a pyproject.toml with [project].dependencies")
    return normalize_lines(deps, path.parent, f"requirements ({path.name})")


def _logical_lines(text: str) -> list[str]:
    """Lines without comments, blank lines and backslash continuations."""
    joined = re.sub(r"\\\r?\n", " ", text)
    found = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            found.append(" ".join(line.split()))
    return found


def normalize_lines(lines: list[str], base: Path, option: str) -> tuple[str, ...]:
    """One spelling per line: ``--find-links VALUE`` (a relative local path made absolute
    against ``base``), requirements without spaces and with a normalized name."""
    found: list[str] = []
    for raw in lines:
        line = " ".join(re.sub(r"(^|\s)#.*$", "", raw).split())
        if not line:
            continue
        if line.startswith("-"):
            first, _, rest = line.partition(" ")
            flag, _, value = first.partition("=")  # "--find-links=X" or "--find-links X"
            value = (value or rest).strip()
            if flag not in _OPTIONS:
                raise SpecError(
                    option, line, "requirements and --index-url, --extra-index-url, "
                    "--find-links, --no-index (other installer flags are not supported)",
                )  # fmt: skip
            canonical = _OPTIONS[flag]
            if canonical == "--no-index":
                if value:
                    raise SpecError(option, line, "--no-index without a value")
                found.append(canonical)
                continue
            if not value:
                raise SpecError(option, line, f"{canonical} with a value")
            if canonical == "--find-links" and "://" not in value and "${" not in value:
                value = str((base / Path(value).expanduser()).resolve())
            found.append(f"{canonical} {value}")
            continue
        match = _NAME.match(line)
        if not match:
            raise SpecError(option, line, "PEP 508 requirements such as 'pandas>=2'")
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        if name in _PROVIDED:
            continue  # the image's own copy must stay the one that runs the job
        rest = match.group(2).strip()
        # Markers ("; python_version < '3.12'") keep their spaces; specifiers lose theirs.
        spec_part, semi, marker = rest.partition(";")
        found.append(name + spec_part.replace(" ", "") + (f"; {marker.strip()}" if semi else ""))
    return tuple(found)


def split_lines(lines: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """(installer options as argv words, requirements)."""
    options: list[str] = []
    requirements: list[str] = []
    for line in lines:
        if line.startswith("--"):
            options += line.split(" ", 1)
        else:
            requirements.append(line)
    return options, requirements


def environment_key(lines: tuple[str, ...] | list[str], python: str, platform: str) -> str:
    """The cache key of an environment: a hash of (Python version, platform, requirements
    sorted — their order does not change what is installed —, index options in order)."""
    options, requirements = split_lines(lines)
    text = json.dumps(
        {"python": python, "platform": platform, "requirements": sorted(requirements),
         "options": options}, sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:32]
