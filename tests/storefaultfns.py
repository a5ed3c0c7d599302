"""Jobs that turn their file:// store read-only at the moment they finish, for
tests/k8s/test_store_faults_k8s.py. They run in a simulated pod, which has its own mount
namespace: the store is bind-mounted onto itself there and remounted read-only, so every
write of the pod's runner gets EROFS while the test (and the operator) still see the store
as it was. They refuse to touch the mounts of a process that shares the test's mount
namespace (``test_ns``: the test's ``/proc/self/ns/mnt``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time


def make_read_only(store_dir: str, test_ns: str) -> None:
    """The store read-only for this pod only (EROFS for every write from now on)."""
    if os.readlink("/proc/self/ns/mnt") == test_ns:
        raise RuntimeError("not in a pod's own mount namespace: the machine's mounts stay")
    subprocess.run(["mount", "--bind", store_dir, store_dir], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", store_dir], check=True)


# Run as its own session, so the runner's kill of the job's process group spares it; it
# holds the job's output pipe, so the runner reads the job's output to its end (and so
# goes on to record the job's end) only after it has turned the store read-only.
WATCHER = """
import os, subprocess, sys, time
store_dir, result_file, test_ns, ready = sys.argv[1:5]
open(ready, "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(result_file) and time.monotonic() < deadline:
    time.sleep(0.005)
if os.readlink("/proc/self/ns/mnt") == test_ns:
    sys.exit("not in a pod's own mount namespace: the machine's mounts stay")
subprocess.run(["mount", "--bind", store_dir, store_dir], check=True)
subprocess.run(["mount", "-o", "remount,bind,ro", store_dir], check=True)
for i in range(5):
    print(f"printed after the store turned read-only {i}", flush=True)
"""


def store_read_only_once_the_result_is_stored(store_dir: str, test_ns: str):
    """Returns 42; once the worker has stored it, the store turns read-only, before the
    runner writes the rest of the log and ends (issue 11, item 8)."""
    from kinetic.store import layout

    key = layout.result_key(os.environ["KINETIC_JOB_ID"], int(os.environ["KINETIC_ATTEMPT"]))
    result_file = os.path.join(store_dir, key)
    ready = os.path.join(tempfile.mkdtemp(prefix="kinetic-watcher-"), "watching")
    subprocess.Popen([sys.executable, "-c", WATCHER, store_dir, result_file, test_ns, ready],
                     start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not os.path.exists(ready) and time.monotonic() < deadline:
        time.sleep(0.01)  # returns once the watcher watches: the runner waits 10 s at most
    shutil.rmtree(os.path.dirname(ready), ignore_errors=True)
    print("printed before the store turned read-only", flush=True)
    time.sleep(0.5)  # the line is in the store's log before anything else happens
    return 42


def store_read_only_before_the_result(store_dir: str, test_ns: str):
    """Returns 42 after the store turned read-only: the result cannot be stored."""
    print("printed before the store turned read-only", flush=True)
    time.sleep(0.5)
    make_read_only(store_dir, test_ns)
    print("printed after the store turned read-only", flush=True)
    return 42


def prints_then_returns(value):
    print("printed before the result", flush=True)
    return value
