"""A secret_env value never leaves the job in what Kinetic writes or shows, whatever text
carries it: an exception's message, args, attributes, cause and traceback, the job's
record and what the CLI prints of it."""

from __future__ import annotations

import json
import subprocess
import sys

import errorfns
import pytest

import kinetic
from kinetic.store import open_store

SECRET = "tok-Very-S3cret-4411"
MASK = "********"


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "kinetic.cli", *args], capture_output=True,
                         text=True, check=False)  # fmt: skip
    return out.stdout + out.stderr


def everything_stored(store_uri: str) -> bytes:
    store = open_store(store_uri)
    return b"\n".join(store.read_bytes(o.key) for o in store.list("jobs"))


@pytest.mark.parametrize("kind", ["runtime", "custom"])
def test_secret_in_an_exception_is_masked_everywhere(store_uri, kind):
    fn = kinetic.run(secret_env={"API_TOKEN": SECRET})(errorfns.leak_secret)
    job = fn.run_async("API_TOKEN", kind)
    with pytest.raises(Exception) as info:
        job.result(timeout=60)
    exc = info.value
    shown = "\n".join([str(exc), repr(exc.args), *exc.__notes__])
    assert SECRET not in shown and MASK in shown
    if kind == "custom":
        assert type(exc) is errorfns.LeakyError
        assert exc.args == (f"login failed with token {MASK}",) and exc.token == MASK
        # An attribute whose object held the secret comes back as its masked repr.
        assert exc.credentials == f"Credentials(token='{MASK}')"
        assert isinstance(exc.__cause__, KeyError) and exc.__cause__.args == (MASK,)
    else:
        assert type(exc) is RuntimeError and str(exc) == f"token {MASK}"
    assert SECRET.encode() not in everything_stored(store_uri)  # state, result, logs
    assert MASK in job.logs()  # the log ends with the (masked) traceback
    for args in (["jobs", "status", job.job_id], ["jobs", "status", job.job_id, "-o", "json"],
                 ["jobs", "list", "-o", "json"], ["jobs", "list"],
                 ["jobs", "result", job.job_id, "-o", "json"]):  # fmt: skip
        text = cli(*args)
        assert SECRET not in text, args
    record = json.loads(cli("jobs", "status", job.job_id, "-o", "json"))
    assert MASK in record["message"]
