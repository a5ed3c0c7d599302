"""The code type-checks: mypy, as configured in pyproject.toml ([tool.mypy]: everything,
with the pure layers strict), and ``mypy --strict`` on the pure layers on their own.

Each check runs mypy in a subprocess and takes a few seconds (longer on a cold cache: mypy
reads the kubernetes client's annotations once). On failure the assertion shows mypy's
report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The pure layers (docs/architecture.md): data, rules and formats every process shares.
PURE_LAYERS = ["kinetic/model", "kinetic/system", "kinetic/wire", "kinetic/spec", "kinetic/k8s"]

pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")

# Runs mypy in a subprocess: seconds, not milliseconds.
pytestmark = pytest.mark.typecheck


def run_mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"mypy reports errors:\n{report}"
    assert "Success: no issues found" in result.stdout, report


def test_configured_check_is_clean() -> None:
    """`mypy` with pyproject.toml's configuration: the whole code, pure layers strict."""
    assert_clean(run_mypy())


def test_pure_layers_pass_strict() -> None:
    """`mypy --strict` on the pure layers, whatever the per-module configuration says."""
    assert_clean(run_mypy("--strict", *PURE_LAYERS))
