"""A job's spec → the sbatch command line that starts its runner (pure).

Backends layer, caller's side: ``SlurmBackend.submit`` writes ``BATCH_SCRIPT`` once and
runs the argv that ``sbatch_argv`` builds. No shell ever parses a user value: the batch
script is fixed text, and the store URI, job id and interpreter reach it as arguments,
which it passes to ``exec "$@"`` unchanged. Every sbatch flag is one argv item.

Option mapping (validated beforehand by kinetic.spec and ``slurm_checks``):

* ``accelerator`` → ``--gres=gpu[:type]:N`` (type from ``slurm={"gpu_type"}``, else the
  ``slurm_gpu_types`` setting, else Kinetic's short name: ``a100``, ``l4``…);
* ``cpu`` → ``--cpus-per-task`` (whole CPUs, rounded up); ``memory`` → ``--mem`` (MiB);
  ``ephemeral_storage`` → ``--tmp`` (MiB);
* ``timeout`` → ``--time``, as a backstop: the runner enforces the timeout itself, with
  the grace period, so ``--time`` adds the grace period and a margin (SLURM counts whole
  minutes and checks about every 30 s) and only ends a runner that could not stop the job;
* ``partition``/``account``/``qos``/``constraint`` and ``slurm={"flags": […]}`` as given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.model.spec_record import SpecRecord
from kinetic.spec.accelerators import parse_accelerator
from kinetic.spec.job_spec import DEFAULT_GRACE_PERIOD
from kinetic.spec.resources import quantity_value

# The only script sbatch ever gets. $1 is the file that is the job's stdin (the secret
# values) or "-": it is unlinked before the runner starts, the open descriptor still reads
# it, so the values exist on disk only until the job starts. The rest is the command.
BATCH_SCRIPT = """#!/bin/sh
# Kinetic's SLURM batch script: fixed text; every value arrives as an argument.
if [ "$1" != "-" ]; then rm -f -- "$1"; fi
shift
exec "$@"
"""
# Seconds added to timeout + grace_period for SLURM's own limit (see the docstring).
TIME_LIMIT_MARGIN = 60.0


def runner_command(python: str, store: str, job_id: str) -> list[str]:
    return [python, "-m", "kinetic.job", "--store", store, job_id]


def sbatch_flags(
    job_id: str,
    spec: SpecRecord,
    *,
    output: str,
    stdin: str | None = None,
    gpu_types: Mapping[str, str] | None = None,
) -> list[str]:
    """The sbatch flags for a job, each one argv item of the form ``--name=value``."""
    flags = [
        f"--job-name={job_id}",
        f"--output={output}",  # the runner's own stdout/stderr (the job log is in the store)
        "--no-requeue",  # Kinetic counts attempts itself (retries): SLURM must not rerun one
        "--export=ALL",  # the caller's environment, as the local backend gives it
        "--kill-on-invalid-dep=yes",
    ]
    if stdin:
        flags.append(f"--input={stdin}")
    options = dict(spec.get("slurm") or {})
    if gres := gres_flag(spec.get("accelerator") or "cpu", options, gpu_types or {}):
        flags.append(gres)
    if cpus := _amount(spec.get("cpu")):
        flags.append(f"--cpus-per-task={max(1, math.ceil(cpus))}")
    if memory := _amount(spec.get("memory")):
        flags.append(f"--mem={math.ceil(memory / 2**20)}M")
    if disk := _amount(spec.get("ephemeral_storage")):
        flags.append(f"--tmp={math.ceil(disk / 2**20)}M")
    if timeout := spec.get("timeout"):
        flags.append(f"--time={time_limit_minutes(timeout, spec.get('grace_period'))}")
    for key in ("partition", "account", "qos", "constraint"):
        if options.get(key):
            flags.append(f"--{key}={options[key]}")
    flags.extend(options.get("flags") or [])
    return flags


def time_limit_minutes(timeout: float, grace_period: float | None = None) -> int:
    """SLURM's --time: the job's timeout, its grace period and a margin, in minutes."""
    grace = DEFAULT_GRACE_PERIOD if grace_period is None else grace_period
    seconds = float(timeout) + float(grace) + TIME_LIMIT_MARGIN
    return math.ceil(seconds / 60)


def gres_flag(accelerator: str, options: Mapping[str, Any], gpu_types: Mapping[str, str]) -> str:
    """``--gres=gpu[:type]:N`` for a GPU accelerator; "" for cpu."""
    acc = parse_accelerator(accelerator)
    if acc.kind != "gpu":
        return ""  # TPUs are refused by slurm_checks before we get here
    if "gpu_type" in options:
        gpu_type = options["gpu_type"]
    else:
        gpu_type = gpu_types.get(acc.name, default_gpu_type(acc.name))
    return f"--gres=gpu:{gpu_type}:{acc.count}" if gpu_type else f"--gres=gpu:{acc.count}"


def default_gpu_type(canonical: str) -> str:
    """Kinetic's short name: nvidia-tesla-a100 → a100, nvidia-a100-80gb → a100-80gb."""
    name = canonical.removeprefix("nvidia-").removeprefix("tesla-")
    return name


def parse_gpu_types(value: object) -> dict[str, str]:
    """The ``slurm_gpu_types`` setting: a dict, or ``"a100=a100_40g,l4="`` text (env var);
    keys may be any accelerator alias, kept by canonical name."""
    if value in (None, ""):
        return {}
    items: dict[str, str]
    if isinstance(value, dict):
        items = {str(k): str(v) for k, v in value.items()}
    elif isinstance(value, str):
        items = {}
        for part in value.split(","):
            name, eq, gres_type = part.partition("=")
            if not eq:
                raise SpecError("slurm_gpu_types", value, "NAME=TYPE items separated by ','")
            items[name.strip()] = gres_type.strip()
    else:
        raise SpecError("slurm_gpu_types", value, "a table of accelerator name -> GRES type")
    return {parse_accelerator(name).name: gres_type for name, gres_type in items.items()}


def _amount(resource: Any) -> float | None:
    """The larger of a resource's request and limit, as a number (None when unset)."""
    if not resource:
        return None
    values = [float(quantity_value(q)) for q in resource.values() if q]
    return max(values) if values else None
