"""Accelerator strings → a parsed `Accelerator` → Kubernetes scheduling (selectors, limits).

Accepted strings (case-insensitive, surrounding whitespace ignored):

* ``cpu`` — no accelerator.
* GPUs by GKE name or short alias, with an optional ``xN`` count suffix:
  ``nvidia-l4``/``l4``, ``t4``, ``v100``, ``p4``, ``p100``, ``a100`` (40 GB),
  ``a100-80gb``, ``h100`` (``nvidia-h100-80gb``), ``h100-mega``, ``h200``, ``b200`` —
  e.g. ``l4x2``, ``a100-80gbx8``, ``nvidia-l4x4``. Counts 1, 2, 4, 8 (and 16 for the
  40 GB A100, as on a2-megagpu-16g).
* TPU slices as ``[tpu-]<family>-<N>``: ``tpu-v5e-8``/``v5e-8``/``v5litepod-8``,
  ``tpu-v6e-4``/``v6e-4``, ``tpu-v4-8``/``v4-8``, ``tpu-v5p-8``/``v5p-8``. As in the Cloud
  TPU accelerator types, N counts chips for v5e/v6e (one TensorCore per chip) and
  TensorCores for v4/v5p (two per chip): ``v4-8`` is 4 chips in a 2x2x1 topology.

Only **single-host** TPU slices are accepted. A multi-host slice (e.g. ``v5e-16``, 4x4
on four 4-chip VMs, or ``v4-16``) needs one pod per host started together (a JobSet or an indexed
Job with a headless Service), which Kinetic does not build yet; such names raise
`SpecError` at parse time, before anything is submitted, naming the sizes that work.

`k8s_scheduling` turns an `Accelerator` into node selectors, tolerations and resource
limits. The defaults are GKE's labels. Other clusters pass a *label map* (a dict, e.g.
from the Helm chart's values); every key is optional:

======================  ===================================  ===============================
key                     default                              meaning
======================  ===================================  ===============================
gpu_label               cloud.google.com/gke-accelerator     node label naming the GPU type;
                                                             null/"" = no GPU node selector
gpu_values              {} (the canonical name is used)      canonical GPU name → label value,
                                                             e.g. {"nvidia-l4": "NVIDIA-L4"}
gpu_resource            nvidia.com/gpu                       extended resource to request
gpu_taint               nvidia.com/gpu                       taint key tolerated; null = none
tpu_accelerator_label   cloud.google.com/gke-tpu-accelerator node label naming the TPU type
tpu_topology_label      cloud.google.com/gke-tpu-topology    node label with the topology;
                                                             null/"" = not selected on
tpu_values              {}                                   GKE TPU name → label value
tpu_resource            google.com/tpu                       extended resource to request
tpu_taint               google.com/tpu                       taint key tolerated; null = none
node_selector           {}                                   extra selector for any GPU/TPU
                                                             job (e.g. a node pool label)
spot_label              cloud.google.com/gke-spot            node label of spot (preemptible)
                                                             nodes, for ``spot=True`` jobs
spot_value              "true"                               that label's value
spot_taint              cloud.google.com/gke-spot            taint key tolerated; null = none
======================  ===================================  ===============================

A ``:spot`` suffix (``"l4:spot"``) is the same as ``spot=True``: see `split_spot`.

Unknown keys are rejected (a typo in chart values must not silently schedule nowhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from kinetic.model.errors import SpecError
from kinetic.model.json_record import known_fields

Kind = Literal["cpu", "gpu", "tpu"]

_GPU_COUNTS = (1, 2, 4, 8)

# Canonical name (the GKE `cloud.google.com/gke-accelerator` value) → aliases, counts.
_GPUS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "nvidia-l4": (("l4",), _GPU_COUNTS),
    "nvidia-tesla-t4": (("t4", "tesla-t4"), _GPU_COUNTS),
    "nvidia-tesla-p4": (("p4", "tesla-p4"), _GPU_COUNTS),
    "nvidia-tesla-p100": (("p100", "tesla-p100"), _GPU_COUNTS),
    "nvidia-tesla-v100": (("v100", "tesla-v100"), _GPU_COUNTS),
    "nvidia-tesla-a100": (("a100", "tesla-a100", "a100-40gb"), (*_GPU_COUNTS, 16)),
    "nvidia-a100-80gb": (("a100-80gb",), _GPU_COUNTS),
    "nvidia-h100-80gb": (("h100", "h100-80gb"), _GPU_COUNTS),
    "nvidia-h100-mega-80gb": (("h100-mega", "h100-mega-80gb"), _GPU_COUNTS),
    "nvidia-h200-141gb": (("h200", "h200-141gb"), _GPU_COUNTS),
    "nvidia-b200": (("b200",), _GPU_COUNTS),
}
_GPU_ALIASES: dict[str, str] = {
    alias: name for name, (aliases, _) in _GPUS.items() for alias in (name, *aliases)
}


@dataclass(frozen=True)
class _TpuFamily:
    key: str  # canonical short family, used in the spec string: tpu-<key>-<n>
    gke_name: str  # cloud.google.com/gke-tpu-accelerator value
    cores_per_chip: int  # how the N in "<family>-N" converts to chips
    # chips → topology for every slice GKE offers; the single-host ones are accepted.
    topologies: dict[int, str]
    max_chips_per_host: int


_V5E_TOPOLOGIES = {
    1: "1x1",
    4: "2x2",
    8: "2x4",
    16: "4x4",
    32: "4x8",
    64: "8x8",
    128: "8x16",
    256: "16x16",
}
_TPU_FAMILIES: dict[str, _TpuFamily] = {
    "v5e": _TpuFamily("v5e", "tpu-v5-lite-podslice", 1, _V5E_TOPOLOGIES, 8),
    "v6e": _TpuFamily("v6e", "tpu-v6e-slice", 1, _V5E_TOPOLOGIES, 8),
    # v4 and v5p: 4 chips per VM; 2x2x1 is the only single-host shape.
    "v4": _TpuFamily(
        "v4", "tpu-v4-podslice", 2, {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4"}, 4
    ),
    "v5p": _TpuFamily(
        "v5p", "tpu-v5p-slice", 2, {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4"}, 4
    ),
}
_TPU_FAMILY_ALIASES = {"v5e": "v5e", "v5litepod": "v5e", "v6e": "v6e", "v4": "v4", "v5p": "v5p"}
_TPU_RE = re.compile(r"^(?:tpu-?)?(v5e|v5litepod|v6e|v4|v5p)-(\d+)\Z")
_GPU_COUNT_RE = re.compile(r"^(.+?)x(\d+)\Z")


@dataclass(frozen=True)
class Accelerator:
    """A parsed accelerator request. `spec` is the canonical string; it re-parses to self."""

    kind: Kind
    name: str  # GKE label value: "cpu", "nvidia-l4", "tpu-v5-lite-podslice"
    count: int = 0  # GPUs, or TPU chips; 0 for cpu
    topology: str | None = None  # TPU only, e.g. "2x4"
    spec: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Accelerator:
        # Built from the stored fields rather than by re-parsing `spec`, so an operator
        # older than the client still schedules a GPU whose name it does not know yet.
        if "kind" not in data or "name" not in data:
            return parse_accelerator(str(data.get("spec", "")))
        return cls(**known_fields(cls, data))

    def __str__(self) -> str:
        return self.spec


CPU = Accelerator(kind="cpu", name="cpu", count=0, topology=None, spec="cpu")


def known_accelerators() -> list[str]:
    """The canonical names and short forms users can write (for errors and docs)."""
    gpus = [f"{name} ({'/'.join(aliases)})" for name, (aliases, _) in _GPUS.items()]
    tpus = []
    for fam in _TPU_FAMILIES.values():
        for chips in _single_host_chips(fam):
            tpus.append(f"tpu-{fam.key}-{chips * fam.cores_per_chip}")
    return ["cpu", *gpus, *tpus]


def _known_text() -> str:
    return (
        "known accelerators: "
        + ", ".join(known_accelerators())
        + "; GPUs take an xN count suffix (e.g. l4x2)"
    )


def _suggestion(text: str) -> str:
    """'did you mean X? ' for the closest known name or alias, or '' when none is close."""
    import difflib

    base = _GPU_COUNT_RE.match(text)
    stem, suffix = (base[1], f"x{base[2]}") if base else (text, "")
    names = ["cpu", *known_accelerators(), *_GPU_ALIASES]
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.6)
    if not close:
        return ""
    guess = close[0] + (suffix if close[0] in _GPU_ALIASES else "")
    return f"did you mean {guess!r}? "


def _single_host_chips(fam: _TpuFamily) -> list[int]:
    return [c for c in fam.topologies if c <= fam.max_chips_per_host]


def parse_accelerator(value: str | Accelerator) -> Accelerator:
    """Parse an accelerator string; raise `SpecError` naming what is accepted."""
    if isinstance(value, Accelerator):
        return value
    if not isinstance(value, str):
        raise SpecError("accelerator", value, "expected a string; " + _known_text())
    text = value.strip().lower()
    if text == "cpu":
        return CPU
    if (tpu := _TPU_RE.match(text)) is not None:
        return _parse_tpu(value, _TPU_FAMILIES[_TPU_FAMILY_ALIASES[tpu[1]]], int(tpu[2]))
    return _parse_gpu(value, text)


def _parse_gpu(value: str, text: str) -> Accelerator:
    name, count = _GPU_ALIASES.get(text), 1
    if name is None and (m := _GPU_COUNT_RE.match(text)) is not None:
        name, count = _GPU_ALIASES.get(m[1]), int(m[2])
    if name is None:
        raise SpecError("accelerator", value, _suggestion(text) + _known_text())
    allowed = _GPUS[name][1]
    if count not in allowed:
        raise SpecError(
            "accelerator",
            value,
            f"{name} counts allowed: {', '.join(map(str, allowed))}",
        )
    spec = name if count == 1 else f"{name}x{count}"
    return Accelerator(kind="gpu", name=name, count=count, topology=None, spec=spec)


def _parse_tpu(value: str, fam: _TpuFamily, n: int) -> Accelerator:
    singles = [c * fam.cores_per_chip for c in _single_host_chips(fam)]
    allowed = f"tpu-{fam.key} sizes allowed (single-host): {', '.join(map(str, singles))}"
    chips, rest = divmod(n, fam.cores_per_chip)
    topology = fam.topologies.get(chips) if rest == 0 else None
    if topology is None:
        raise SpecError("accelerator", value, allowed)
    if chips > fam.max_chips_per_host:
        # GKE builds every multi-host slice from 4-chip VMs (ct5lp-hightpu-4t,
        # ct6e-standard-4t, ct4p/ct5p-hightpu-4t), whatever the single-host maximum.
        hosts = chips // 4
        raise SpecError(
            "accelerator",
            value,
            f"multi-host TPU slices are not supported yet ({topology}, {chips} chips on "
            f"{hosts} hosts); {allowed}",
        )
    spec = f"tpu-{fam.key}-{n}"
    return Accelerator(kind="tpu", name=fam.gke_name, count=chips, topology=topology, spec=spec)


# --- scheduling -------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelMap:
    """How a cluster labels accelerator nodes; see the module docstring for each key."""

    gpu_label: str | None = "cloud.google.com/gke-accelerator"
    gpu_values: Mapping[str, str] = field(default_factory=dict)
    gpu_resource: str = "nvidia.com/gpu"
    gpu_taint: str | None = "nvidia.com/gpu"
    tpu_accelerator_label: str | None = "cloud.google.com/gke-tpu-accelerator"
    tpu_topology_label: str | None = "cloud.google.com/gke-tpu-topology"
    tpu_values: Mapping[str, str] = field(default_factory=dict)
    tpu_resource: str = "google.com/tpu"
    tpu_taint: str | None = "google.com/tpu"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    spot_label: str | None = "cloud.google.com/gke-spot"
    spot_value: str = "true"
    spot_taint: str | None = "cloud.google.com/gke-spot"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> LabelMap:
        if not data:
            return cls()
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise SpecError("accelerator label map", key, "known keys: " + ", ".join(known))
        kwargs = dict(data)
        # GPU values may be keyed by any alias ("l4"); store them by canonical name.
        if kwargs.get("gpu_values"):
            kwargs["gpu_values"] = {
                _GPU_ALIASES.get(k.strip().lower(), k): v for k, v in kwargs["gpu_values"].items()
            }
        return cls(**kwargs)


@dataclass(frozen=True)
class Scheduling:
    """What a pod needs to land on, and be allowed onto, an accelerator node."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    limits: dict[str, str] = field(default_factory=dict)


def _toleration(key: str | None) -> list[dict[str, str]]:
    # Exists + NoSchedule matches GKE's taints whatever their value ("present", "true").
    return [] if not key else [{"key": key, "operator": "Exists", "effect": "NoSchedule"}]


SPOT_SUFFIX = ":spot"


def split_spot(value: object) -> tuple[object, bool]:
    """``"l4:spot"`` → ``("l4", True)``; anything else is returned as it is, with False."""
    if isinstance(value, str) and value.strip().lower().endswith(SPOT_SUFFIX):
        return value.strip()[: -len(SPOT_SUFFIX)], True
    return value, False


def k8s_scheduling(
    acc: Accelerator | str,
    label_map: Mapping[str, Any] | LabelMap | None = None,
    spot: bool = False,
) -> Scheduling:
    """Node selector, tolerations and resource limits for `acc` (GKE labels by default);
    with ``spot``, also on (and tolerating) the cluster's spot nodes."""
    acc = parse_accelerator(acc)
    lm = label_map if isinstance(label_map, LabelMap) else LabelMap.from_mapping(label_map)
    placed = _accelerator_scheduling(acc, lm)
    if not spot:
        return placed
    selector, tolerations = dict(placed.node_selector), list(placed.tolerations)
    if lm.spot_label:
        selector[lm.spot_label] = lm.spot_value
    tolerations += _toleration(lm.spot_taint)
    return Scheduling(node_selector=selector, tolerations=tolerations, limits=placed.limits)


def _accelerator_scheduling(acc: Accelerator, lm: LabelMap) -> Scheduling:
    if acc.kind == "cpu":
        return Scheduling()
    selector = dict(lm.node_selector)
    if acc.kind == "gpu":
        if lm.gpu_label:
            selector[lm.gpu_label] = lm.gpu_values.get(acc.name, acc.name)
        return Scheduling(
            node_selector=selector,
            tolerations=_toleration(lm.gpu_taint),
            limits={lm.gpu_resource: str(acc.count)},
        )
    if lm.tpu_accelerator_label:
        selector[lm.tpu_accelerator_label] = lm.tpu_values.get(acc.name, acc.name)
    if lm.tpu_topology_label and acc.topology:
        selector[lm.tpu_topology_label] = acc.topology
    # Single-host slices only (see the module docstring), so the pod takes every chip.
    return Scheduling(
        node_selector=selector,
        tolerations=_toleration(lm.tpu_taint),
        limits={lm.tpu_resource: str(acc.count)},
    )
