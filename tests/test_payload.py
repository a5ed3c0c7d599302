"""Payload and result framing, integrity, and the caller's modules travelling by value."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import kinetic
from kinetic.store import open_store
from kinetic.wire.framing import frame, load_framed, store_framed


def test_framed_object_round_trip_and_tamper_detection(tmp_path):
    store = open_store(tmp_path / "s")
    digest = store_framed(store, "jobs/x/obj.pkl", frame({"a": [1, 2, 3]}))
    assert load_framed(store, "jobs/x/obj.pkl", digest.sha256) == {"a": [1, 2, 3]}
    with pytest.raises(kinetic.IntegrityError, match="refusing to unpickle"):
        load_framed(store, "jobs/x/obj.pkl", "0" * 64)
    path = tmp_path / "s" / "jobs" / "x" / "obj.pkl"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(kinetic.IntegrityError, match="corrupt"):
        load_framed(store, "jobs/x/obj.pkl")


def test_function_from_temporary_project_not_on_job_path(tmp_path):
    """A module of the caller's project travels by value: the job never imports it."""
    project = tmp_path / "proj"
    (project / "mylib").mkdir(parents=True)
    (project / "mylib" / "__init__.py").write_text("")
    (project / "mylib" / "helpers.py").write_text("def scale(x):\n    return x * 10\n")
    (project / "mylib" / "work.py").write_text(
        "from mylib.helpers import scale\n\ndef compute(x):\n    return scale(x) + 1\n"
    )
    script = textwrap.dedent(
        """
        import sys, kinetic
        sys.path.insert(0, sys.argv[1])
        from mylib.work import compute
        job = kinetic.run()(compute).run_async(4)
        print(job.result(timeout=60))
        """
    )
    # Run from elsewhere so the job's cwd and path do not contain the project.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", script, str(project)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "41"


def test_unpicklable_keyword_argument_named(tmp_path):
    import threading

    import jobfns

    with pytest.raises(kinetic.SerializationError, match=r"keyword argument 'b' \(lock\)"):
        kinetic.run()(jobfns.add).run_async(1, b=threading.Lock())


def test_exception_of_a_class_not_importable_here_is_rebuilt_from_the_one_that_travelled(
    tmp_path,
):
    """A class of a script's __main__ is importable nowhere else; its own pickling refuses
    (its instances' __reduce__), but its parts travel: it comes back as a Private (not as
    the caller's class, which does not exist here) with its message."""
    script = textwrap.dedent(
        """
        import kinetic

        class Private(Exception):
            def __reduce__(self):
                raise TypeError("not picklable")

        @kinetic.run()
        def boom():
            raise Private("hidden reason")

        print(boom.run_async().job_id)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    job = kinetic.attach(out.stdout.strip())
    with pytest.raises(Exception) as info:
        job.result(timeout=60)
    assert type(info.value).__qualname__ == "Private"
    assert str(info.value) == "hidden reason"
    assert "Remote traceback" in info.value.__notes__[0]


def test_decorated_function_pickles_as_plain_function():
    import pickle

    import cloudpickle
    import jobfns

    remote = kinetic.run()(jobfns.add)
    for dumps in (pickle.dumps, cloudpickle.dumps):
        plain = pickle.loads(dumps(remote))
        assert plain(2, 2) == 4
        assert not isinstance(plain, kinetic.RemoteFunction)


def test_tampered_payload_fails_in_load_phase():
    """The runner checks the payload against the digest in handle.json before unpickling."""
    import jobfns

    from kinetic.backends.local import LocalBackend
    from kinetic.client.pickling import frame_payload
    from kinetic.client.submit import submit
    from kinetic.wire.payload import Payload

    real_submit = LocalBackend.submit

    def swap_payload(self, handle, spec, framed):
        framed.close()
        real_submit(self, handle, spec, frame_payload(Payload(jobfns.add, (1, 1))))

    LocalBackend.submit = swap_payload
    try:
        job = submit(jobfns.add, (2, 2), {}, kinetic.JobSpec())
    finally:
        LocalBackend.submit = real_submit
    with pytest.raises(kinetic.IntegrityError):
        job.result(timeout=60)
    state = job.state()
    assert state.status == kinetic.JobStatus.FAILED and state.reason == "RunnerError"
    assert "phase load failed" in state.message


def test_modules_imported_between_submissions_still_travel_by_value(tmp_path):
    """Each module is judged once (submit cost does not grow with the caller's imports);
    one imported after earlier submissions is judged then, and travels by value."""
    project = tmp_path / "proj"
    (project / "latelib").mkdir(parents=True)
    (project / "latelib" / "__init__.py").write_text("def triple(x):\n    return 3 * x\n")
    script = textwrap.dedent(
        """
        import sys, kinetic
        import numpy  # a few hundred installed modules, judged at the first submission
        print(kinetic.run()(abs).run_async(-2).result(timeout=60))
        sys.path.insert(0, sys.argv[1])
        import latelib
        print(kinetic.run()(latelib.triple).run_async(5).result(timeout=60))
        """
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-c", script, str(project)], capture_output=True,
                         text=True, cwd=elsewhere, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "15"]
