"""working_dir=: the project's files ship with the job (ignore rules honoured), stored once
per content hash, and the job runs in its copy with relative paths as on the laptop."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest
from envfns import project_view

import kinetic
from kinetic.client.project_upload import ProjectSizeWarning, ship_project
from kinetic.model.errors import SpecError
from kinetic.spec.project_files import (
    RACY_NS,
    content_hash,
    ignored,
    parse_rules,
    reusable_digest,
    scan,
)
from kinetic.store import open_store


def make_project(root: Path) -> Path:
    files = {
        "configs/train.yaml": "lr: 0.1\n",
        "notebooks/explore.py": "x = 1\n",
        "projhelper.py": "NAME = 'helper'\n",
        "data/raw/big.csv": "a,b\n",
        "data/keep.csv": "k\n",
        "build/out.o": "binary",
        "logs/run.log": "log",
        "src/pkg/__pycache__/m.cpython-311.pyc": "pyc",
        ".git/HEAD": "ref: main",
        ".venv/pyvenv.cfg": "home = /usr",
        "myenv/pyvenv.cfg": "home = /usr",
        "myenv/lib/x.py": "",
        ".gitignore": "build/\n*.log\n/data/*\n!/data/keep.csv\n",
        ".kineticignore": "notebooks/scratch*\n",
        "notebooks/scratch1.py": "scratch",
        "notebooks/.gitignore": "*.tmp\n",
        "notebooks/cache.tmp": "tmp",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


SHIPPED = [".gitignore", ".kineticignore", "configs/train.yaml", "data/keep.csv",
           "notebooks/.gitignore", "notebooks/explore.py", "projhelper.py"]  # fmt: skip


def test_gitignore_rules():
    rules = parse_rules("*.log\n/build/\ndocs/**/*.png\n!keep.log\nsub/a?.txt\n")
    assert ignored("x/y.log", False, rules) and not ignored("keep.log", False, rules)
    assert ignored("build", True, rules) and not ignored("src/build", True, rules)
    assert not ignored("build", False, rules)  # a file named build: the rule is for dirs
    assert ignored("docs/a/b/c.png", False, rules) and ignored("docs/c.png", False, rules)
    assert ignored("sub/ab.txt", False, rules) and not ignored("sub/abc.txt", False, rules)


def test_scan_honours_ignore_files_and_defaults(tmp_path):
    root = make_project(tmp_path / "proj")
    assert sorted(scan(root).files) == SHIPPED


def test_hash_changes_with_content_not_with_mtime(tmp_path):
    root = make_project(tmp_path / "proj")
    first = content_hash(scan(root))
    os.utime(root / "projhelper.py", (0, 0))
    assert content_hash(scan(root)) == first
    (root / "projhelper.py").write_text("NAME = 'changed'\n")
    assert content_hash(scan(root)) != first
    (root / "build" / "more.o").write_text("ignored")
    assert content_hash(scan(root)) == content_hash(scan(root))


def test_working_dir_must_be_a_directory(tmp_path):
    with pytest.raises(SpecError, match="working_dir"):
        kinetic.run(working_dir=str(tmp_path / "nope"))


def test_job_runs_in_its_copy_and_an_unchanged_resubmission_uploads_nothing(
    store_uri, tmp_path, monkeypatch
):
    root = make_project(tmp_path / "proj")
    monkeypatch.chdir(root / "notebooks")  # as a notebook in the project would
    run = kinetic.run(working_dir="..")
    job = run(project_view).run_async()
    seen = job.result(timeout=60, cleanup=False)
    assert seen["config"] == "lr: 0.1\n" and seen["helper"] == "helper"
    assert Path(seen["cwd"]).name == "notebooks" and not seen["cwd"].startswith(str(root))
    shipped = sorted(str(Path(p).relative_to("..")) for p in seen["listing"])
    assert shipped == SHIPPED  # (the job's own output directory is not inside the copy)
    first = kinetic.attach(job.job_id).client["project"]
    assert first["uploaded"] and first["files"] == len(SHIPPED)
    again = run(project_view).run_async()
    assert again.result(timeout=60, cleanup=False)["config"] == "lr: 0.1\n"
    second = kinetic.attach(again.job_id).client["project"]
    assert second["sha256"] == first["sha256"] and not second["uploaded"]
    (root / "configs" / "train.yaml").write_text("lr: 0.2\n")
    changed = run(project_view).run_async()
    assert changed.result(timeout=60, cleanup=False)["config"] == "lr: 0.2\n"
    assert kinetic.attach(changed.job_id).client["project"]["uploaded"]


def test_a_big_project_warns_naming_its_largest_files(tmp_path, monkeypatch):
    import kinetic.client.project_upload as project_upload

    root = tmp_path / "proj"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"\0" * 3000)
    (root / "small.txt").write_text("x")
    monkeypatch.setattr(project_upload, "WARN_BYTES", 1000)  # the threshold, not the I/O
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ship_project(open_store((tmp_path / "store").as_uri()), str(root), str(root))
    [warning] = [w for w in caught if issubclass(w.category, ProjectSizeWarning)]
    assert "weights.bin" in str(warning.message) and ".kineticignore" in str(warning.message)


# -- an unchanged project is not read again (digests cached by stat) ---------------------


def bytes_read() -> int:
    """What this process has passed to read() so far (Linux /proc/self/io: rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def make_big_project(root: Path, files: int = 100, size: int = 200_000) -> int:
    for i in range(files):
        path = root / f"pkg{i % 10}" / f"data_{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    # Files changed within RACY_NS before they are read are read again next time (their
    # stat could hide a change made in the same clock tick): let them age first.
    time.sleep(RACY_NS / 1e9 + 0.2)
    return files * size


def test_an_unchanged_resubmission_reads_no_file(store_uri, tmp_path, monkeypatch):
    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux's /proc/self/io to count the bytes read")
    root = tmp_path / "proj"
    content = make_big_project(root)
    monkeypatch.chdir(root)
    run = kinetic.run(working_dir=".")(len)
    first = run.run_async([1])
    assert first.client["project"]["read"] == 100 and first.client["project"]["uploaded"]
    before = bytes_read()
    again = run.run_async([1, 2])
    read = bytes_read() - before
    assert again.client["project"]["read"] == 0 and not again.client["project"]["uploaded"]
    assert again.client["project"]["sha256"] == first.client["project"]["sha256"]
    assert read < content / 20, f"{read} bytes read to resubmit {content} bytes unchanged"
    assert again.result(timeout=60) == 2 and first.result(timeout=60) == 1


def test_a_changed_file_is_read_again_whatever_its_size_and_mtime(tmp_path):
    store = open_store((tmp_path / "store").as_uri())
    root = tmp_path / "proj"
    make_big_project(root, files=20, size=1000)
    first = ship_project(store, str(root), str(root))
    assert first["read"] == 20
    assert ship_project(store, str(root), str(root))["read"] == 0
    # The same size, the mtime set back: the ctime (which no program sets back) tells.
    path = root / "pkg3" / "data_3.bin"
    old = path.stat()
    path.write_bytes(os.urandom(1000))
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert path.stat().st_mtime_ns == old.st_mtime_ns
    changed = ship_project(store, str(root), str(root))
    assert changed["read"] == 1 and changed["sha256"] != first["sha256"] and changed["uploaded"]
    # Replaced by another file (a new inode), the same size, content and mtime: read again,
    # and the same content is the same hash.
    copy = root / "copy.tmp"
    copy.write_bytes(path.read_bytes())
    os.utime(copy, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(copy, path)
    replaced = ship_project(store, str(root), str(root))
    assert replaced["read"] == 1 and replaced["sha256"] == changed["sha256"]
    assert not replaced["uploaded"]


def test_a_file_changed_just_before_it_was_read_is_read_again(tmp_path):
    store = open_store((tmp_path / "store").as_uri())
    root = tmp_path / "proj"
    make_big_project(root, files=5, size=100)
    assert ship_project(store, str(root), str(root))["read"] == 5
    (root / "fresh.py").write_text("x = 1\n")  # changed now: its digest is not kept yet
    assert ship_project(store, str(root), str(root))["read"] == 1
    assert ship_project(store, str(root), str(root))["read"] == 1
    now = time.time_ns()
    assert reusable_digest((6, now - RACY_NS - 1, now - RACY_NS - 1, 1), now)
    assert not reusable_digest((6, now - RACY_NS - 1, now - 1, 1), now)  # ctime too


def test_a_broken_digest_cache_only_means_reading(tmp_path):
    from kinetic.client.project_digests import cache_file

    store = open_store((tmp_path / "store").as_uri())
    root = tmp_path / "proj"
    make_big_project(root, files=5, size=100)
    first = ship_project(store, str(root), str(root))
    cache_file(root).write_text("{not json")
    again = ship_project(store, str(root), str(root))
    assert again["read"] == 5 and again["sha256"] == first["sha256"]
    assert ship_project(store, str(root), str(root))["read"] == 0  # and it is whole again
