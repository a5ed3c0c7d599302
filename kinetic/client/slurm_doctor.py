"""``kinetic doctor`` for the slurm backend: SLURM's commands, the controller, accounting,
and the store seen from a compute node (a tiny probe job).

Client layer: called by the CLI's ``doctor`` beside ``check_store``. The probe job runs
the same fixed batch script as every Kinetic job, with ``python -c PROBE URI KEY TEXT``:
it reads a probe object the doctor wrote and exits 0 only if it reads the same text, so
a job's runner would find its records. The probe object is deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kinetic.backends import slurm_commands
from kinetic.backends.slurm import write_batch_script
from kinetic.client.doctor import PROBE_ROOT, Check, _open, _timed
from kinetic.model.errors import BackendError

# The probe job must start and finish within this; on a busy cluster it may wait in queue.
PROBE_TIMEOUT = 180.0
PROBE = (
    "import sys; from kinetic.store import open_store; "
    "sys.exit(0 if open_store(sys.argv[1]).read_bytes(sys.argv[2]).decode() == sys.argv[3] "
    "else 3)"
)


def check_slurm(store_uri: str, partition: str | None = None) -> list[Check]:
    missing = slurm_commands.missing_commands()
    needed = [c for c in missing if c != "sacct"]
    checks = [
        Check(
            "slurm commands",
            not needed,
            f"missing: {', '.join(needed)}" if needed else "sbatch, squeue, scontrol, scancel",
        )
    ]
    if needed:
        return checks

    def ping() -> str:
        done = slurm_commands.run(["scontrol", "ping"])
        if "UP" not in done.stdout:
            raise BackendError(done.stdout.strip())
        nodes = slurm_commands.run(["sinfo", "-h", "-o", "%P %a %D %T"]).stdout.strip()
        return f"{done.stdout.strip()}; partitions: {'; '.join(nodes.splitlines())}"

    ok, detail = _timed(ping)
    checks.append(Check("slurm controller", ok, detail))
    if not ok:
        return checks
    accounting = "sacct" not in missing and slurm_commands.accounting_enabled()
    checks.append(Check(
        "slurm accounting", True,
        "sacct answers" if accounting else "not configured: finished jobs are known to "
        "squeue for MinJobAge only; Kinetic keeps their end in the store",
    ))  # fmt: skip
    ok, detail = _timed(lambda: probe_job(store_uri, partition))
    checks.append(Check("store from a compute node", ok, detail))
    return checks


def probe_job(store_uri: str, partition: str | None) -> str:
    """Write a probe object, have a SLURM job read it back, delete it."""
    store = _open(store_uri)
    key = f"{PROBE_ROOT}/slurm-{os.getpid()}-{secrets.token_hex(4)}.txt"
    text = secrets.token_hex(8)
    store.write_bytes(key, text.encode())
    output = Path(tempfile.gettempdir()) / f"kinetic-doctor-{os.getpid()}.out"
    flags = ["--wait", "--job-name=kinetic-doctor", f"--output={output}", "--time=3"]
    if partition:
        flags.append(f"--partition={partition}")
    argv = [*flags, str(write_batch_script()), "-", sys.executable, "-c", PROBE, store.uri, key,
            text]  # fmt: skip
    try:
        started = time.monotonic()
        done = subprocess.run(["sbatch", "--parsable", *argv], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BackendError(f"the probe job did not finish within {PROBE_TIMEOUT:g}s") from None
    finally:
        store.delete_prefix(key)
    said = output.read_text(errors="replace").strip()[-500:] if output.exists() else ""
    output.unlink(missing_ok=True)
    if done.returncode != 0:
        raise BackendError(
            f"the probe job could not read {store.uri} (exit {done.returncode}): "
            f"{said or done.stderr.strip()}"
        )
    job = done.stdout.strip().split(";")[0]
    return f"SLURM job {job} read the probe object back in {time.monotonic() - started:.1f}s"
