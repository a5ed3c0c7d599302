"""SLURM options (``partition=`` and ``slurm={...}``): validated once, for JobSpec.

Spec layer: JobSpec calls ``check_partition`` and ``check_slurm_options`` when the decorator
is applied, so a bad value is refused before anything is created. The SLURM backend
(kinetic.backends.slurm_sbatch) turns the normalised dict into sbatch flags.

``slurm={...}`` keys:

* ``account``, ``qos``, ``constraint``, ``partition`` — SLURM's own (``partition=`` also
  exists as a top-level option; giving both with different values is refused);
* ``gpu_type`` — the GRES type name for ``accelerator`` (``--gres=gpu:<type>:N``), when the
  site's names differ from Kinetic's; ``""`` asks for untyped GPUs (``--gres=gpu:N``);
* ``python`` — the interpreter that runs the job on the compute node (default: the
  submitting one, ``sys.executable``, which must then be visible there);
* ``flags`` — extra sbatch flags as a list of ``"--name=value"`` / ``"--name"`` items, each
  from ``EXTRA_FLAGS``: what Kinetic sets itself (output, input, export, time, memory…) and
  what would change how the job runs (``--wrap``, ``--array``) are refused.
"""

from __future__ import annotations

import re
from typing import Any

from kinetic.model.errors import SpecError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}$")
# A constraint expression: features joined by & | , and brackets/counts (man sbatch).
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.\-&|,\[\]*()!:]{1,256}$")
_PYTHON = re.compile(r"^/[^\0\n]{1,4095}$")
_FLAG_VALUE = re.compile(r"^[^\0\n]{1,512}$")
SLURM_KEYS = ("account", "qos", "constraint", "partition", "gpu_type", "python", "flags")

# sbatch flags a job may add through slurm={"flags": [...]}: name -> takes a value.
# Everything else is either set by Kinetic from its own options or changes what runs.
EXTRA_FLAGS: dict[str, bool] = {
    "--nodelist": True,
    "--exclude": True,
    "--reservation": True,
    "--licenses": True,
    "--comment": True,
    "--mail-type": True,
    "--mail-user": True,
    "--nice": True,
    "--priority": True,
    "--hint": True,
    "--gpus-per-task": True,
    "--gpu-bind": True,
    "--cores-per-socket": True,
    "--sockets-per-node": True,
    "--threads-per-core": True,
    "--mem-bind": True,
    "--wckey": True,
    "--cluster-constraint": True,
    "--exclusive": False,
    "--contiguous": False,
    "--reboot": False,
    "--spread-job": False,
}
# Why some well-known flags are refused: said in the error, so users know what to use.
REFUSED_FLAGS = {
    "--time": "timeout=", "--mem": "memory=", "--mem-per-cpu": "memory=",
    "--cpus-per-task": "cpu=", "--gres": "accelerator=", "--gpus": "accelerator=",
    "--partition": "partition=", "--account": "slurm={'account': …}",
    "--qos": "slurm={'qos': …}", "--constraint": "slurm={'constraint': …}",
    "--tmp": "ephemeral_storage=", "--job-name": "name=",
    "--requeue": "retries=", "--no-requeue": "retries=", "--begin": "start_at=",
    "--dependency": "nothing (dependencies are not supported yet)",
    "--export": "env=/secret_env=", "--output": "handle.logs()", "--error": "handle.logs()",
    "--input": "nothing (Kinetic uses the job's stdin)", "--wrap": "nothing",
    "--array": "nothing (one job per submission)", "--chdir": "nothing",
}  # fmt: skip
FLAGS_ACCEPTED = "a list of '--name=value' items, names among: " + ", ".join(EXTRA_FLAGS)


def check_partition(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        raise SpecError("partition", value, "a SLURM partition name (letters, digits, _.-+)")
    return value.strip()


def check_slurm_options(value: object, partition: str | None) -> dict[str, Any] | None:
    """The normalised ``slurm={...}`` dict (partition merged in), or None when unset."""
    if value is None and partition is None:
        return None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise SpecError("slurm", value, f"a dict with keys among {', '.join(SLURM_KEYS)}")
    if unknown := sorted(set(value) - set(SLURM_KEYS)):
        raise SpecError("slurm", unknown[0], f"keys among {', '.join(SLURM_KEYS)}")
    checked: dict[str, Any] = {}
    for key in ("account", "qos"):
        if value.get(key) is not None:
            checked[key] = _name(f"slurm[{key!r}]", value[key])
    if value.get("constraint") is not None:
        text = value["constraint"]
        if not isinstance(text, str) or not _CONSTRAINT.match(text):
            raise SpecError("slurm['constraint']", text, "a SLURM feature expression")
        checked["constraint"] = text
    own = check_partition(value.get("partition"))
    if own and partition and own != partition:
        raise SpecError("slurm['partition']", own, f"the same as partition= ({partition!r})")
    if own or partition:
        checked["partition"] = own or partition
    if value.get("gpu_type") is not None:
        gpu_type = value["gpu_type"]
        if gpu_type != "":
            gpu_type = _name("slurm['gpu_type']", gpu_type)
        checked["gpu_type"] = gpu_type
    if value.get("python") is not None:
        python = value["python"]
        if not isinstance(python, str) or not _PYTHON.match(python):
            raise SpecError("slurm['python']", python, "an absolute path to a Python interpreter")
        checked["python"] = python
    if value.get("flags"):
        checked["flags"] = check_extra_flags(value["flags"])
    return checked


def check_extra_flags(flags: object) -> list[str]:
    if isinstance(flags, str) or not isinstance(flags, list | tuple):
        raise SpecError("slurm['flags']", flags, FLAGS_ACCEPTED)
    checked = []
    for item in flags:
        if not isinstance(item, str):
            raise SpecError("slurm['flags']", item, FLAGS_ACCEPTED)
        name, eq, arg = item.partition("=")
        if name in REFUSED_FLAGS:
            raise SpecError("slurm['flags']", item, f"Kinetic's own option: {REFUSED_FLAGS[name]}")
        if name not in EXTRA_FLAGS:
            raise SpecError("slurm['flags']", item, FLAGS_ACCEPTED)
        if EXTRA_FLAGS[name] != bool(eq) or (eq and not _FLAG_VALUE.match(arg)):
            form = f"{name}=VALUE" if EXTRA_FLAGS[name] else name
            raise SpecError("slurm['flags']", item, f"the form {form}")
        checked.append(item)
    return checked


def _name(option: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        raise SpecError(option, value, "a SLURM name (letters, digits, _.-+)")
    return value.strip()
