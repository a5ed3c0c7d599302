"""Functions that environment tests run as jobs (a module of the test project: it travels
by value)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path


def use_package(name: str) -> dict:
    """The package's VALUE, where it was imported from, and that kinetic still imports."""
    import kinetic.job.context  # noqa: F401  (the image's packages stay importable)

    module = importlib.import_module(name)
    return {"value": module.VALUE, "file": module.__file__, "venv": os.environ.get("VIRTUAL_ENV")}


def read_relative(path: str) -> dict:
    """A project file read by a relative path, and where the job ran."""
    return {"text": Path(path).read_text(), "cwd": os.getcwd()}


def project_view() -> dict:
    """What a job sees of its project copy: a relative read, a listing, an import by name."""
    import importlib

    listing = sorted(str(p) for p in Path("..").rglob("*") if p.is_file())
    helper = importlib.import_module("projhelper")
    return {"config": Path("../configs/train.yaml").read_text(), "cwd": os.getcwd(),
            "listing": listing, "helper": helper.NAME}  # fmt: skip
