"""Job resources: Kubernetes quantities, validated once.

``cpu``, ``memory`` and ``ephemeral_storage`` take a quantity (``"2"``, ``"500m"``,
``"4Gi"``) meaning request = limit, or ``{"request": …, "limit": …}``. On Kubernetes they
become the container's resources (kinetic.k8s.pod_resources). Locally, ``memory`` is
enforced by the runner (kinetic.job.limits) and ``cpu_cores="0-1"`` pins the job to those
cores; ``cpu`` and ``ephemeral_storage`` cannot be honoured locally and are refused
(kinetic.backends.local_checks).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from kinetic.model.errors import SpecError
from kinetic.model.spec_record import SpecRecord

_QUANTITY = re.compile(
    r"^(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[mkMGTPE]|[eE][+-]?[0-9]+)?\Z"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10**3), "M": Decimal(10**6),
            "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}  # fmt: skip
ACCEPTED = "a Kubernetes quantity such as 2, 500m, 512Mi or 4Gi, or {'request': …, 'limit': …}"
# Below this, a byte count without a unit is surely a slip for Mi (no job fits in 1 MiB).
BARE_BYTES_FLOOR = 2**20
RESOURCE_OPTIONS = {"cpu": "cpu", "memory": "memory", "ephemeral_storage": "ephemeral-storage"}


def quantity_value(text: str) -> Decimal:
    """The numeric value of a quantity ("4Gi" -> 4294967296, "500m" -> 0.5)."""
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(text)
    number, suffix = Decimal(m["num"]), m["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _DECIMAL[suffix]


def _check_quantity(option: str, value: object) -> str:
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise SpecError(option, value, ACCEPTED)
    try:
        amount = quantity_value(text.strip())
    except (ValueError, InvalidOperation):
        raise SpecError(option, value, ACCEPTED) from None
    if amount <= 0:
        raise SpecError(option, value, "a quantity greater than zero")
    if option != "cpu" and amount < 1:
        raise SpecError(option, value, "at least one byte (did you mean Mi or M, not m?)")
    if option != "cpu" and amount < BARE_BYTES_FLOOR and not _has_unit(text):
        # A bare number is bytes to Kubernetes: memory=2048 would be killed at once (OOM).
        raise SpecError(
            option, value,
            f"a quantity with a unit: {text.strip()} means {text.strip()} bytes; "
            f"did you mean {text.strip()}Mi?",
        )  # fmt: skip
    return text.strip()


def _has_unit(text: str) -> bool:
    found = _QUANTITY.match(text.strip())
    return bool(found and found["suffix"])


def check_resource(option: str, value: object) -> dict[str, str] | None:
    """{"request": q, "limit": q} from a quantity or a dict; None when unset."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"request", "limit"}
        if unknown or not value:
            raise SpecError(option, value, ACCEPTED)
        checked = {k: _check_quantity(option, v) for k, v in value.items()}
        if (
            "request" in checked
            and "limit" in checked
            and quantity_value(checked["request"]) > quantity_value(checked["limit"])
        ):
            raise SpecError(option, value, "a request no larger than the limit")
        return checked
    quantity = _check_quantity(option, value)
    return {"request": quantity, "limit": quantity}


def check_cpu_cores(value: object) -> str | None:
    """``"0-1"``, ``"0,2,4-5"``: a CPU list as taskset takes it."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise SpecError("cpu_cores", value, "a CPU list such as '0-1' or '0,2,4-5'")
    return value


def parse_cpu_cores(value: str) -> set[int]:
    cores: set[int] = set()
    for part in value.split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


# -- local enforcement -----------------------------------------------------------------------
def memory_limit_bytes(spec: SpecRecord) -> int | None:
    limit = (spec.get("memory") or {}).get("limit")
    return int(quantity_value(limit)) if limit else None
