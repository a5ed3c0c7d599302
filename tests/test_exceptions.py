"""A job's exception comes back as raised: its class (where importable here), args,
attributes and chain, with a traceback naming the user's own file and line; the job's log
ends with that traceback."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import errorfns
import pytest

import kinetic

ERRORFNS = Path(errorfns.__file__).resolve()


def test_exception_comes_back_as_its_class_whatever_its_init_takes(store_uri):
    job = kinetic.run()(errorfns.validate).run_async("age", 3)
    with pytest.raises(errorfns.DataValidationError) as info:
        job.result(timeout=60)
    exc = info.value
    assert type(exc) is errorfns.DataValidationError
    assert exc.column == "age" and exc.n_bad == 3
    assert exc.args == ("3 bad values in column 'age'",)
    note = exc.__notes__[-1]
    assert f'File "{ERRORFNS}", line 26, in validate' in note
    assert "raise DataValidationError(column, n_bad)" in note  # the file exists here
    assert "kinetic/job/worker.py" not in note  # it starts at the user's function
    # The log ends with the traceback, as `python script.py` would print it.
    logs = job.logs()
    assert logs.rstrip().endswith("DataValidationError: 3 bad values in column 'age'")
    assert "Traceback (most recent call last):" in logs


def test_chained_causes_and_contexts_are_kept(store_uri):
    with pytest.raises(errorfns.KeywordOnlyError) as info:
        kinetic.run()(errorfns.chained).run_async().result(timeout=60)
    exc = info.value
    assert exc.code == 7 and exc.detail == {"rows": [1, 2]}
    assert isinstance(exc.__cause__, KeyError) and exc.__cause__.args == ("missing",)
    assert exc.__suppress_context__
    note = exc.__notes__[-1]
    assert "The above exception was the direct cause" in note
    with pytest.raises(errorfns.DataValidationError) as info:
        kinetic.run()(errorfns.during_handling).run_async().result(timeout=60)
    context = info.value.__context__
    assert isinstance(context, FileNotFoundError)  # OSError picks its subclass by errno
    assert context.errno == errno.ENOENT and context.filename == "/data/x.csv"
    assert info.value.__cause__ is None and not info.value.__suppress_context__


def test_attached_from_another_process_the_class_is_the_importable_one(tmp_path):
    job = kinetic.run()(errorfns.validate).run_async("price", 12)
    job.wait(timeout=60)
    script = textwrap.dedent(
        f"""
        import errorfns, kinetic
        try:
            kinetic.attach({job.job_id!r}).result(timeout=60)
        except errorfns.DataValidationError as exc:
            print(exc.column, exc.n_bad)
        """
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(ERRORFNS.parent)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True)  # fmt: skip
    assert out.stdout.split() == ["price", "12"]


def test_only_a_class_that_cannot_be_rebuilt_becomes_remote_error(tmp_path):
    """A class neither importable here nor able to travel (it holds a lock) → RemoteError
    with its type name, message and traceback."""
    script = textwrap.dedent(
        """
        import kinetic

        def boom():
            import threading

            class Unshippable(Exception):
                lock = threading.Lock()
            raise Unshippable("hidden reason")

        print(kinetic.run()(boom).run_async().job_id)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)  # fmt: skip
    job = kinetic.attach(out.stdout.strip())
    with pytest.raises(kinetic.RemoteError) as info:
        job.result(timeout=60)
    assert info.value.type_name == "__main__.boom.<locals>.Unshippable"
    assert "hidden reason" in str(info.value)
    assert "line 9, in boom" in info.value.remote_traceback
    status = subprocess.run(
        [sys.executable, "-m", "kinetic.cli", "jobs", "status", job.job_id, "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Unshippable" in json.loads(status.stdout)["message"]
