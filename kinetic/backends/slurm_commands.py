"""Running SLURM's commands: sbatch, squeue, sacct, scancel (the only module that does).

Backends layer, caller's side, below ``SlurmBackend``. Every command is an argv list (no
shell); failures become ``BackendError`` with SLURM's own words. Queries are batched: one
squeue for many jobs (chunks of ``CHUNK`` ids), then sacct for those squeue no longer
knows, when the cluster keeps accounting.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable, Mapping

from kinetic.backends.slurm_status import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    SlurmJob,
    parse_sacct,
    parse_squeue,
)
from kinetic.model.errors import BackendError

COMMAND_TIMEOUT = 60.0
CHUNK = 500  # job ids per squeue/sacct call: long lists, bounded argv
COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "sacct", "sinfo")
_FORGOTTEN = "Invalid job id specified"


def run(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess:
    """Run one SLURM command; BackendError when it is missing, hangs, or fails (``check``)."""
    if shutil.which(argv[0]) is None:
        raise BackendError(
            f"{argv[0]} is not on PATH: the slurm backend needs SLURM's client commands "
            "(run kinetic from a login node, or install slurm-client)"
        )
    try:
        done = subprocess.run(
            argv,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"{argv[0]} did not answer within {timeout:g}s") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise BackendError(f"{argv[0]} failed: {said}")
    return done


def sbatch(argv: list[str], *, env: Mapping[str, str], cwd: str | None) -> str:
    """Submit; SLURM's job id (``--parsable`` prints ``ID`` or ``ID;cluster``)."""
    done = run(["sbatch", "--parsable", *argv], env=env, cwd=cwd)
    slurm_id = done.stdout.strip().split(";")[0]
    if not slurm_id.isdigit():
        raise BackendError(f"sbatch printed no job id: {done.stdout.strip()!r}")
    return slurm_id


def query(slurm_ids: Iterable[str]) -> dict[str, SlurmJob]:
    """What SLURM knows of these jobs, by id; a job it has forgotten is absent."""
    ids = sorted(set(slurm_ids), key=int)
    found: dict[str, SlurmJob] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ",".join(ids[i : i + CHUNK])
        done = run(["squeue", "-h", "--states=all", "-j", chunk, "-O", SQUEUE_FORMAT], check=False)
        if done.returncode != 0 and _FORGOTTEN not in done.stderr:
            raise BackendError(f"squeue failed: {done.stderr.strip()}")
        found.update(parse_squeue(done.stdout))
    missing = [i for i in ids if i not in found]
    if missing and accounting_enabled():
        for i in range(0, len(missing), CHUNK):
            chunk = ",".join(missing[i : i + CHUNK])
            done = run(["sacct", "-X", "-n", "-P", "-j", chunk, "-o", SACCT_FIELDS], check=False)
            if done.returncode == 0:
                found.update(parse_sacct(done.stdout))
    return found


@functools.cache
def accounting_enabled() -> bool:
    """Whether sacct answers (slurmdbd configured); asked once per process."""
    if shutil.which("sacct") is None:
        return False
    done = run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], check=False)
    return done.returncode == 0


def scancel(slurm_id: str, *, signal: str | None = None, batch_only: bool = False) -> None:
    """Cancel (or only signal) a job. scancel of a finished or unknown job is not an error."""
    argv = ["scancel"]
    if signal:
        argv.append(f"--signal={signal}")
    if batch_only:
        argv.append("--batch")  # the batch script's process only: our runner
    run([*argv, slurm_id], check=False)


def missing_commands() -> list[str]:
    return [c for c in COMMANDS if shutil.which(c) is None]
