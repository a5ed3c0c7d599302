"""The ``working_dir=`` option: which of the project's files a job gets, and their hash.

Where it sits: the decorator validates the directory (``check_working_dir``); at
submission kinetic.client.project_upload scans it (``scan``: .kineticignore and .gitignore
rules, plus DEFAULT_IGNORES), names its content by ``content_hash`` — each file's digest
reused from the caller's cache while its stat is unchanged (kinetic.client.project_digests,
``reusable_digest``) — and uploads it once per hash; the job unpacks it and runs in the
copy (kinetic.job.project_copy).

The ignore files follow .gitignore's syntax: ``#`` comments, ``!`` to re-include, a
trailing ``/`` for directories only, a ``/`` at the start or in the middle to anchor a
pattern to the ignore file's directory, ``*``, ``?``, ``[…]`` and ``**``. Each directory's
own .gitignore/.kineticignore applies below it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kinetic.model.errors import SpecError

IGNORE_FILES = (".gitignore", ".kineticignore")
# Never worth shipping: history, caches, virtual environments (any directory holding a
# pyvenv.cfg is one, whatever its name).
DEFAULT_IGNORES = (".git/", ".hg/", ".svn/", "__pycache__/", "*.pyc", ".venv/", "venv/",
                   ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/", ".nox/",
                   ".ipynb_checkpoints/", ".DS_Store", "node_modules/")  # fmt: skip
WARN_BYTES = 100 * 1024 * 1024  # above this, the submission names the largest files
# What a file's content cannot change without changing: size, mtime, ctime (which no
# program can set back), inode (a file replaced by another). The key of a cached digest.
FileStat = tuple[int, int, int, int]
# A file changed this little before it was read may have changed again in the same clock
# tick after the read, leaving its stat as it was (git's "racily clean"): its digest is
# not kept. Two seconds covers the coarsest file-system clocks (FAT, SMB).
RACY_NS = 2_000_000_000


def check_working_dir(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not Path(value).expanduser().is_dir():
        raise SpecError("working_dir", value, "a path to an existing directory, e.g. '.'")
    return str(Path(value).expanduser().resolve())


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def parse_rules(text: str, base: str = "") -> list[Rule]:
    """The rules of one ignore file in directory ``base`` (relative, '' for the root)."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        line = line.removeprefix("\\")
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        prefix = re.escape(base + "/") if base else ""
        regex = f"^{prefix}{body}$" if anchored else f"^{prefix}(?:.*/)?{body}$"
        rules.append(Rule(re.compile(regex), negate, dir_only))
    return rules


def _translate(pattern: str) -> str:
    """A gitignore glob as a regex over '/'-separated relative paths."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 1)) > i:
            inner = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + inner[1:] if inner.startswith("!") else inner) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def ignored(path: str, is_dir: bool, rules: list[Rule]) -> bool:
    """The last rule that matches decides (as in git). Pure."""
    verdict = False
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.regex.match(path):
            verdict = not rule.negate
    return verdict


@dataclass
class Manifest:
    """The files to ship: relative '/'-separated name -> (size, executable)."""

    root: Path
    files: dict[str, tuple[int, bool]] = field(default_factory=dict)
    stats: dict[str, FileStat] = field(default_factory=dict)  # as scanned

    @property
    def size(self) -> int:
        return sum(size for size, _ in self.files.values())

    def largest(self, n: int = 5) -> list[tuple[str, int]]:
        ranked = sorted(self.files.items(), key=lambda item: -item[1][0])
        return [(name, size) for name, (size, _) in ranked[:n]]


def scan(root: Path) -> Manifest:
    """Every regular file under ``root`` that no rule ignores (symlinks to files inside are
    followed; ones leading outside, and special files, are left out)."""
    manifest = Manifest(root)
    base_rules = parse_rules("\n".join(DEFAULT_IGNORES))
    real_root = root.resolve()

    def walk(directory: Path, rel: str, rules: list[Rule]) -> None:
        for name in IGNORE_FILES:
            with_rules = directory / name
            if with_rules.is_file():
                rules = rules + parse_rules(with_rules.read_text(errors="replace"), rel)
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = f"{rel}/{entry.name}" if rel else entry.name
                is_dir = entry.is_dir()
                if ignored(path, is_dir, rules):
                    continue
                if is_dir:
                    if entry.is_symlink() or (Path(entry.path) / "pyvenv.cfg").exists():
                        continue  # a link could loop or leave the project; a venv is big
                    walk(Path(entry.path), path, rules)
                elif entry.is_file():
                    if entry.is_symlink() and real_root not in Path(entry.path).resolve().parents:
                        continue
                    stat = entry.stat()
                    manifest.files[path] = (stat.st_size, bool(stat.st_mode & 0o100))
                    manifest.stats[path] = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
                                            stat.st_ino)  # fmt: skip

    walk(root, "", base_rules)
    return manifest


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(manifest: Manifest, digests: Mapping[str, str] | None = None) -> str:
    """Names, executable bits and contents: an unchanged project has the same hash.
    ``digests``: files' SHA-256 already known (kinetic.client.project_digests); the other
    files are read here."""
    total = hashlib.sha256()
    for name in sorted(manifest.files):
        known = digests.get(name) if digests else None
        digest = known or file_digest(manifest.root / name)
        executable = manifest.files[name][1]
        total.update(f"{name}\0{int(executable)}\0{digest}\n".encode())
    return total.hexdigest()


def reusable_digest(stat: FileStat, read_at_ns: int) -> bool:
    """Whether a digest read at ``read_at_ns`` (wall clock) may stand for the file while its
    stat stays ``stat``: not when the file changed within RACY_NS before the read. Pure."""
    changed = max(stat[1], stat[2])
    return changed < read_at_ns - RACY_NS
