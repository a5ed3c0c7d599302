"""The file:// store's files get the mode an ordinary open() gives (0666 & ~umask), not
mkstemp's 0600: a store shared with jobs running as another uid (docs/kubernetes.md, the
default ACLs whose mask follows the group bits) must stay readable by them."""

from __future__ import annotations

import io
import os
import stat

import pytest

from kinetic.store.file_store import LocalStore


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    store = LocalStore(tmp_path)
    store.write_bytes("jobs/a/handle.json", b"{}")
    store.write_bytes("jobs/a/payload.pkl", b"x", if_absent=True)
    store.upload("jobs/a/result.pkl", io.BytesIO(b"r"))
    scratch = store.scratch_file()  # how framed payloads and results are written
    scratch.write(b"framed")
    store.adopt("jobs/a/adopted.pkl", scratch)
    for name in ("handle.json", "payload.pkl", "result.pkl", "adopted.pkl"):
        mode = stat.S_IMODE((tmp_path / "jobs" / "a" / name).stat().st_mode)
        assert mode == 0o666 & ~mask, (name, oct(mode))
    assert not [p for p in (tmp_path / "jobs" / "a").iterdir() if p.name.startswith(".tmp-")]
