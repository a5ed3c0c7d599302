"""Settings, resolved in one order everywhere: argument > KINETIC_* env > config file > default.

The config file is TOML at ``$KINETIC_CONFIG`` or ``$XDG_CONFIG_HOME/kinetic/config.toml``
(``~/.config/kinetic/config.toml``), with the settings as top-level keys::

    store = "gs://my-bucket/kinetic"
    backend = "kubernetes"
    namespace = "ml"
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinetic.model.errors import SpecError


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str  # "argument", "env KINETIC_X", "config <path>", "default"
    help: str = ""

    def shown(self) -> Any:
        """The value as it may be displayed: notify URLs are secrets, shown by host."""
        if self.name == "notify" and self.value:
            from kinetic.wire.notification import url_host

            urls = self.value.split(",") if isinstance(self.value, str) else self.value
            return [f"{url_host(str(url).strip())}/…" for url in urls if str(url).strip()]
        return self.value


def _default_store() -> str:
    return (Path.home() / ".kinetic" / "store").as_uri()


# name -> (default factory, help)
SETTINGS: dict[str, tuple[Any, str]] = {
    "store": (_default_store, "where job artifacts live: file:///path or gs://bucket/prefix"),
    "backend": (lambda: "local", "where jobs run: local, kubernetes or slurm"),
    "namespace": (lambda: None, "kubernetes namespace (default: the kubeconfig context's)"),
    "context": (lambda: None, "kubeconfig context (default: the current context)"),
    "kubeconfig": (lambda: None, "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"),
    "image": (lambda: None, "container image for kubernetes jobs (default: the operator's)"),
    "file_store_host_path": (
        lambda: None,
        "host path shared with the cluster's nodes, for file:// stores on kubernetes",
    ),
    "slurm_gpu_types": (
        lambda: None,
        "slurm: GRES type per accelerator, e.g. 'a100=a100_40g,l4=' (empty: untyped gpu:N)",
    ),
    "notify": (
        lambda: None,
        "URLs posted to when a job ends (notify=), a list; KINETIC_NOTIFY: comma-separated",
    ),
    "operator_namespace": (
        lambda: "kinetic",
        "namespace the Kinetic operator (Helm chart) is installed in; kinetic doctor reads "
        "its heartbeat there",
    ),
}


def config_path() -> Path:
    if explicit := os.environ.get("KINETIC_CONFIG"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kinetic" / "config.toml"


def _load_file() -> tuple[dict[str, Any], Path]:
    import tomllib

    path = config_path()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}, path
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("config file", str(path), f"valid TOML ({exc})") from exc
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise SpecError("config file key", unknown[0], f"one of {', '.join(SETTINGS)} (in {path})")
    return data, path


def resolve(name: str, argument: Any = None) -> Setting:
    """One setting's value and where it came from."""
    default, help_text = SETTINGS[name]
    if argument is not None:
        return Setting(name, argument, "argument", help_text)
    env_name = f"KINETIC_{name.upper()}"
    if env_value := os.environ.get(env_name):
        return Setting(name, env_value, f"env {env_name}", help_text)
    data, path = _load_file()
    if name in data:
        return Setting(name, data[name], f"config {path}", help_text)
    return Setting(name, default(), "default", help_text)


def resolve_all(arguments: dict[str, Any] | None = None) -> list[Setting]:
    arguments = arguments or {}
    return [resolve(name, arguments.get(name)) for name in SETTINGS]
