"""Functions that tests run as jobs. A module of the test project: it travels by value."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import kinetic
import kinetic.job.context


def add(a, b):
    return a + b


def train(epochs):
    for e in range(epochs):
        print(f"epoch {e}")
    return {"final_loss": 0.123}


class CustomError(Exception):
    pass


def fail_with(message):
    def inner():
        raise CustomError(message)

    inner()


def chatty_then_sleep(lines, seconds):
    for i in range(lines):
        print(f"line {i}", flush=True)
    time.sleep(seconds)
    return "done"


def print_then_wait_for_file(path, timeout=30):
    print("started", flush=True)
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    print("saw file", flush=True)
    return "ok"


def cooperative(seconds):
    print("working", flush=True)
    if kinetic.cancel_event().wait(seconds):
        print("cancel seen, stopping cleanly", flush=True)
        return "stopped"
    return "finished"


def stubborn(seconds):
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring cancel", flush=True)
    time.sleep(seconds)
    return "finished"


def sleeper(seconds):
    time.sleep(seconds)
    return seconds


def write_outputs(fail):
    out = kinetic.output_dir()
    (out / "model.txt").write_text("weights")
    (out / "sub").mkdir()
    (out / "sub" / "metrics.json").write_text('{"loss": 1}')
    if fail:
        raise RuntimeError("failed after writing outputs")
    return sorted(p.name for p in out.iterdir())


def exit_with(code):
    sys.exit(code)


def unpicklable_result():
    return socket.socket()


def env_value(name):
    return os.environ.get(name)


def c_level_output():
    os.write(1, b"from fd 1\n")
    subprocess.run(["sh", "-c", "echo from a child process; echo child stderr >&2"], check=True)
    return None


def job_identity():
    return {"job_id": kinetic.job.context.job_id(), "output_dir": str(kinetic.output_dir())}


def hog_memory(mb):
    block = bytearray(mb * 2**20)  # touched: resident, not just reserved
    for i in range(0, len(block), 4096):
        block[i] = 1
    import time as _time

    _time.sleep(5)
    return len(block)


def allowed_cores():
    return sorted(os.sched_getaffinity(0))


def print_secret(name):
    value = os.environ[name]
    print(f"the secret is {value}!", flush=True)
    # Split across two writes, as a byte-by-byte writer would.
    os.write(1, value[:3].encode())
    os.write(1, value[3:].encode() + b"\n")
    return len(value)


def file_mode(name):
    import stat as _stat

    return _stat.S_IMODE(os.stat(name).st_mode)


def progress_then_wait(path, timeout=30):
    for step in range(1, 6):
        kinetic.report_progress(step / 10, f"step {step}", loss=1.0 / step)  # coalesced
    print("reported", flush=True)
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    kinetic.report_progress(1.0, "done")
    return "ok"


def fail_until_attempt(succeed_at):
    """Raise on the attempts before ``succeed_at``, then return which attempt succeeded."""
    attempt = kinetic.attempt()
    print(f"this is attempt {attempt}", flush=True)
    if attempt < succeed_at:
        raise CustomError(f"attempt {attempt} is not enough")
    return attempt


def stall_on_first_attempt(marker):
    """Attempt 1 writes ``marker`` and hangs (a test kills its runner); later ones return."""
    attempt = kinetic.attempt()
    print(f"this is attempt {attempt}", flush=True)
    if attempt == 1:
        with open(marker, "w") as f:
            f.write("started")
        time.sleep(600)
    return f"done on attempt {attempt}"


def serve_http(seconds):
    """Answer GET on the job's port named "web" (KINETIC_PORT_WEB) with the job's id."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from {os.environ['KINETIC_JOB_ID']}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["KINETIC_PORT_WEB"])), Handler)
    server.timeout = 0.2
    print("serving", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not kinetic.cancelled():
        server.handle_request()
    server.server_close()
    return "served"


def touch(path):
    open(path, "w").close()
    return path


def post_report(url, token, body):
    """POST a progress report to the operator's endpoint; its answer's status code."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def report_as(job_id, attempt=1):
    """Post a progress report for ``job_id`` with this pod's own token, as a job trying
    to change another job's record would; the operator's answer code."""
    with open(os.environ["KINETIC_PROGRESS_TOKEN_FILE"]) as f:
        token = f.read().strip()
    body = {"job_id": job_id, "attempt": attempt, "report": {"fraction": 0.99}}
    return post_report(os.environ["KINETIC_PROGRESS_URL"], token, body)


def ticker(n, delay=0.1):
    """An ordinary loop that never asks whether it is cancelled."""
    try:
        for i in range(n):
            print(f"tick {i}", flush=True)
            time.sleep(delay)
    finally:
        print("finally ran", flush=True)
    return n


def spawn_child(seconds):
    """Start a process that would outlive the job, and say its pid."""
    child = subprocess.Popen(["sleep", str(seconds)])
    print(f"child {child.pid}", flush=True)
    time.sleep(seconds)
    return child.pid


def huge_error(size):
    raise ValueError("x" * size)


def lines_then_wait(path, then=None, width=0, timeout=60):
    """20 lines, then 20 more (``width`` dots longer) once ``path`` exists, then (if given)
    wait for ``then``."""

    def wait(p):
        deadline = time.time() + timeout
        while not os.path.exists(p) and time.time() < deadline:
            time.sleep(0.05)

    for i in range(20):
        print(f"line {i}", flush=True)
    wait(path)
    for i in range(20, 40):
        print(f"line {i}\n" + "." * width, flush=True)
    if then:
        wait(then)
    return "done"


def tqdm_bar(steps, delay):
    from tqdm import tqdm

    for _ in tqdm(range(steps), desc="training", ascii=True, mininterval=0):
        time.sleep(delay)
    print("after the bar", flush=True)
    return steps


CKPT_PAD = 256 * 1024  # a checkpoint big enough to be written in two halves


def checkpointing(steps, delay, progress, hog_at=None, stall_after=None):
    """Count ``steps`` steps, checkpointing after each to output_dir()/ckpt.json (written
    in two halves, a pause between: a kill can land mid-write) and resuming from it. Each
    step's progress goes to the file ``progress`` (outside the outputs). Attempt 1 hogs
    memory mid-write at step ``hog_at``, or stalls once step ``stall_after`` is written (a
    test stops it there). Returns (first step of this attempt, total)."""
    ckpt = kinetic.output_dir() / "ckpt.json"
    state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "total": 0}
    start = state["step"]
    print(f"attempt {kinetic.attempt()} starts at step {start}", flush=True)
    for step in range(start, steps):
        time.sleep(delay)
        state = {"step": step + 1, "total": state["total"] + step, "pad": "x" * CKPT_PAD}
        text = json.dumps(state)
        with open(progress, "a") as p:
            p.write(f"writing {step + 1}\n")
        with open(ckpt, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            if hog_at == step + 1 and kinetic.attempt() == 1:
                hog_memory(512)
            time.sleep(delay / 2)
            f.write(text[len(text) // 2 :])
        with open(progress, "a") as p:
            p.write(f"wrote {step + 1}\n")
        if stall_after == step + 1 and kinetic.attempt() == 1:
            time.sleep(600)
    return start, state["total"]


def debuggee(x):
    """debug=True tests: a client stops at the marked line (and reads ``x`` there)."""
    print(f"debuggee called with {x}", flush=True)
    doubled = x * 2  # DEBUG-BREAK
    return doubled
