"""Shared fixtures. Every test gets its own store and Kinetic home; nothing touches ~/.kinetic."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest_plugins = ["gcs_support"]


@pytest.fixture(autouse=True)
def kinetic_env(tmp_path, monkeypatch):
    """Point every setting at a private temporary place."""
    home = tmp_path / "kinetic-home"
    monkeypatch.setenv("KINETIC_HOME", str(home))
    monkeypatch.setenv("KINETIC_STORE", (tmp_path / "store").as_uri())
    monkeypatch.setenv("KINETIC_CONFIG", str(tmp_path / "no-config.toml"))
    for name in ("KINETIC_BACKEND", "KINETIC_NAMESPACE", "KINETIC_CONTEXT", "KINETIC_IMAGE",
                 "KINETIC_KUBECONFIG", "KINETIC_OPERATOR_NAMESPACE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(params=["file", "gs"])
def store_uri(request, tmp_path, monkeypatch) -> str:
    """A fresh store: a directory, or a bucket in the GCS emulator. Also the default store."""
    if request.param == "file":
        uri = (tmp_path / "store").as_uri()
    else:
        uri = request.getfixturevalue("gcs_store_uri")
    monkeypatch.setenv("KINETIC_STORE", uri)
    return uri


@pytest.fixture
def python_env(tmp_path) -> dict[str, str]:
    """The environment for a separate Python process that should see the same settings."""
    return dict(os.environ)
