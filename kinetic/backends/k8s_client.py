"""The Kubernetes API client the caller's side uses: from the kubeconfig, or in-cluster.

One cached client per (kubeconfig, context); the kubeconfig is never modified.
"""

from __future__ import annotations

import functools

from kinetic.model.errors import BackendError


@functools.lru_cache(maxsize=8)
def api_client(kubeconfig: str | None, context: str | None):
    """A client from the kubeconfig (never modified) or the pod's in-cluster credentials."""
    from kubernetes import client
    from kubernetes import config as kconfig

    try:
        return kconfig.new_client_from_config(config_file=kubeconfig, context=context)
    except (kconfig.ConfigException, FileNotFoundError, TypeError) as first:
        try:
            kconfig.load_incluster_config()
            return client.ApiClient()
        except kconfig.ConfigException:
            raise BackendError(
                f"no Kubernetes access: {first}. Point KUBECONFIG (or the kubeconfig setting) "
                "at a cluster, or run inside a pod with a service account"
            ) from None


def default_namespace(kubeconfig: str | None, context: str | None) -> str:
    from kubernetes import config as kconfig

    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return (chosen or {}).get("context", {}).get("namespace") or "default"
