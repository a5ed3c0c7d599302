"""Runtimes, volumes and networks (kubernetes only): validated once, for JobSpec.

``runtime="py312"`` names an image in the operator's runtime table (kinetic.k8s.runtime_table);
``volumes`` mounts existing PersistentVolumeClaims (``"claim:/path"``, ``"claim:/path:ro"``)
and memory-backed scratch space (``{"name": …, "size": "1Gi", "type": "memory"}``);
``network="name"`` puts the job's pods in a group that only its members may reach.

Volumes are kept in one JSON form, which is also accepted as input (handles round-trip):
``{"type": "claim", "name": claim, "claim": claim, "path": "/data", "read_only": False}``
``{"type": "memory", "name": "scratch", "size": "1Gi", "path": "/mnt/scratch"}``
"""

from __future__ import annotations

import re
from decimal import InvalidOperation
from pathlib import PurePosixPath
from typing import Any

from kinetic.model.errors import SpecError
from kinetic.spec.resources import quantity_value

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The chart's rule for runtime names (values.schema.json): "py3.12", "torch_2-cuda12".
RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")
VOLUMES_ACCEPTED = (
    "a list of 'claim:/abs/path' or 'claim:/abs/path:ro' (an existing PersistentVolumeClaim) "
    "and {'name': …, 'size': '1Gi', 'type': 'memory', 'path': '/abs/path'} (scratch in memory)"
)
# The runner makes its working directory under /tmp and the image's user lives in
# /home/kinetic: a mount at either (or above them) would hide what the job needs.
_HIDDEN_BY_MOUNT = ("/tmp", "/home/kinetic")
# System directories of the image: nothing may be mounted at or inside them.
_SYSTEM = ("/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr")
# The pod volume that carries a file:// store (kinetic.k8s.names.STORE_VOLUME).
_RESERVED_NAMES = ("kinetic-store",)


def check_placement(
    runtime: object, image: object, volumes: object, network: object
) -> dict[str, Any]:
    """The normalised ``runtime``, ``volumes`` and ``network`` of a JobSpec."""
    return {
        "runtime": check_runtime(runtime, image),
        "volumes": check_volumes(volumes),
        "network": check_network(network),
    }


def check_runtime(value: object, image: object = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not RUNTIME_NAME.match(value.strip()):
        raise SpecError(
            "runtime", value, "a runtime name from `kinetic runtimes list` (letters, digits, "
            "'-', '_', '.'; at most 63 characters)",
        )  # fmt: skip
    if image is not None:
        raise SpecError(
            "runtime", value, f"no image= as well (image={image!r}): a runtime is the image; "
            "give one of them",
        )  # fmt: skip
    return value.strip()


def check_network(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _LABEL.match(value):
        raise SpecError(
            "network", value, "a network name: lowercase letters, digits and '-', starting "
            "and ending with a letter or digit, at most 63 characters (RFC 1123 label)",
        )  # fmt: skip
    return value


def check_volumes(value: object) -> list[dict[str, Any]] | None:
    if value is None or (isinstance(value, list | tuple) and not value):
        return None
    if isinstance(value, str | dict) or not isinstance(value, list | tuple):
        raise SpecError("volumes", value, VOLUMES_ACCEPTED)
    checked = [_check_volume(item) for item in value]
    names: set[str] = set()
    paths: set[str] = set()
    for volume in checked:
        if volume["name"] in names:
            raise SpecError("volumes", volume["name"], "each claim or scratch name once")
        if volume["path"] in paths:
            raise SpecError("volumes", volume["path"], "each mount path once")
        names.add(volume["name"])
        paths.add(volume["path"])
    return checked


def _check_volume(item: object) -> dict[str, Any]:
    if isinstance(item, str):
        return _claim_from_text(item)
    if not isinstance(item, dict):
        raise SpecError("volumes", item, VOLUMES_ACCEPTED)
    kind = item.get("type")
    if kind == "memory":
        return _memory(item)
    if kind == "claim":
        return _claim(item)
    raise SpecError("volumes", item, "a dict with 'type': 'memory' (or 'claim')")


def _claim_from_text(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise SpecError("volumes", text, "'claim:/abs/path' or 'claim:/abs/path:ro'")
    claim, path = parts[0], parts[1]
    read_only = len(parts) == 3 and parts[2] == "ro"
    return _claim({"type": "claim", "claim": claim, "path": path, "read_only": read_only}, text)


def _claim(item: dict[str, Any], shown: object = None) -> dict[str, Any]:
    shown = item if shown is None else shown
    unknown = set(item) - {"type", "name", "claim", "path", "read_only"}
    if unknown:
        raise SpecError("volumes", shown, f"claim keys type, claim, path, read_only, not {unknown}")
    claim = item.get("claim")
    if not isinstance(claim, str) or not _LABEL.match(claim):
        raise SpecError(
            "volumes", shown, f"a PersistentVolumeClaim name (RFC 1123 label), not {claim!r}"
        )
    if item.get("name", claim) != claim:
        raise SpecError("volumes", shown, "a claim's name equal to the claim (or none)")
    read_only = item.get("read_only", False)
    if not isinstance(read_only, bool):
        raise SpecError("volumes", shown, "read_only True or False")
    _check_name(claim, shown)
    path = _check_path(item.get("path"), shown)
    return {"type": "claim", "name": claim, "claim": claim, "path": path, "read_only": read_only}


def _memory(item: dict[str, Any]) -> dict[str, Any]:
    unknown = set(item) - {"type", "name", "size", "path"}
    if unknown:
        raise SpecError("volumes", item, f"memory keys type, name, size, path, not {unknown}")
    name = item.get("name")
    if not isinstance(name, str) or not _LABEL.match(name):
        raise SpecError("volumes", item, f"a 'name' that is an RFC 1123 label, not {name!r}")
    _check_name(name, item)
    size = item.get("size")
    text = str(size) if isinstance(size, int) and not isinstance(size, bool) else size
    stripped = text.strip() if isinstance(text, str) else None
    try:
        amount = quantity_value(stripped) if stripped is not None else None
    except (ValueError, InvalidOperation):
        amount = None
    if stripped is None or amount is None or amount < 1:
        raise SpecError(
            "volumes", item, f"a 'size' that is a Kubernetes quantity such as 512Mi or 2Gi, "
            f"not {size!r}",
        )  # fmt: skip
    path = _check_path(item.get("path", f"/mnt/{name}"), item)
    return {"type": "memory", "name": name, "size": stripped, "path": path}


def _check_name(name: str, shown: object) -> None:
    if name in _RESERVED_NAMES:
        raise SpecError("volumes", shown, f"a name other than {name!r} (Kinetic's own volume)")


def _check_path(path: object, shown: object) -> str:
    accepted = "an absolute, normalised mount path such as /data"
    if not isinstance(path, str) or not path.startswith("/"):
        raise SpecError("volumes", shown, accepted)
    pure = PurePosixPath(path)
    if str(pure) != path or ".." in pure.parts or "//" in path:
        raise SpecError("volumes", shown, accepted)
    for hidden in _HIDDEN_BY_MOUNT:
        if hidden == path or hidden.startswith(path.rstrip("/") + "/"):
            raise SpecError(
                "volumes", shown, f"a mount path that does not hide {hidden} (the job's working "
                "directory and home live there); e.g. /data or /mnt/NAME",
            )  # fmt: skip
    for system in _SYSTEM:
        if path == system or path.startswith(system + "/"):
            raise SpecError("volumes", shown, f"a mount path outside the system directory {system}")
    return path
