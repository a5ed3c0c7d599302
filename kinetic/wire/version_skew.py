"""Version skew between the caller that pickled a payload and the job that loads it.

The client records its fingerprint (Python, cloudpickle, Kinetic versions) in handle.json
and in the payload; the job's worker compares it with its own before unpickling
(``skew_problem``) and, when unpickling fails anyway, says whether a cloudpickle
difference is the likely cause (``explain_load_failure``). The kubernetes backend uses
``python_mismatch`` to refuse a runtime whose declared Python cannot load the payload.
Pure apart from ``fingerprint``, which reads this interpreter's versions.
"""

from __future__ import annotations

import sys


def fingerprint() -> dict[str, str]:
    """This interpreter's versions, as a payload records them."""
    import cloudpickle

    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "cloudpickle": cloudpickle.__version__,
        "kinetic": kinetic_version(),
    }


def kinetic_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("kinetic")
    except metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "unknown"


def minor(version: str | None) -> str | None:
    """'3.11.4' -> '3.11'; None when the text is not a Python version."""
    parts = (version or "").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None
    return ".".join(parts[:2])


def _advice(client_python: str) -> str:
    return (
        f"run the job with Python {minor(client_python)} (a runtime or image with Python "
        f"{minor(client_python)}), or submit it from Python {minor(sys.version)}"
    )


def python_mismatch(client_python: str | None, job_python: str | None) -> bool:
    """True when both are known and their minor versions differ."""
    a, b = minor(client_python), minor(job_python)
    return a is not None and b is not None and a != b


def skew_problem(client: dict[str, str], here: dict[str, str]) -> str | None:
    """Why this job must not even try to load the payload (None: it may).

    A function pickled by one Python minor version carries bytecode another cannot run;
    failing here, naming both sides, beats a confusing error inside the user's code.
    """
    if not python_mismatch(client.get("python"), here.get("python")):
        return None
    return (
        f"the payload was pickled by Python {client['python']} (cloudpickle "
        f"{client.get('cloudpickle', '?')}, kinetic {client.get('kinetic', '?')}) but this "
        f"job runs Python {here['python']} (cloudpickle {here.get('cloudpickle', '?')}, "
        f"kinetic {here.get('kinetic', '?')}): {_advice(client['python'])}"
    )


def explain_load_failure(client: dict[str, str], here: dict[str, str], error: str) -> str | None:
    """When unpickling failed and cloudpickle versions differ, the skew message (else None:
    the failure is something else, reported as it is)."""
    theirs, ours = client.get("cloudpickle"), here.get("cloudpickle")
    if not theirs or not ours or theirs == ours:
        return None
    return (
        f"the payload could not be loaded ({error}); it was pickled with cloudpickle {theirs} "
        f"(Python {client.get('python', '?')}) and this job has cloudpickle {ours} (Python "
        f"{here.get('python', '?')}): install cloudpickle {theirs} in the job's image, or "
        f"submit from an environment with cloudpickle {ours}"
    )
