"""``kinetic jobs endpoints|port-forward|shell``: reaching a running job's ports and shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from kinetic.backends import get_backend
from kinetic.cli.app import attach_job, jobs, output_option, store_option
from kinetic.model.errors import BackendError


@jobs.command()
@click.argument("job_id")
@store_option
@output_option
def endpoints(job_id: str, store: str | None, output: str) -> None:
    """Where each of a job's ports is reachable (name, address, protocol)."""
    handle = attach_job(job_id, store)
    found = handle.endpoints()
    if output == "json":
        click.echo(json.dumps({name: e.to_dict() for name, e in found.items()}, indent=2))
        return
    for name, e in found.items():
        extra = f"  (ClusterIP {e.cluster_ip})" if e.cluster_ip else ""
        click.echo(f"{name}\t{e.url or e}\t{e.proto}{extra}")


@jobs.command("port-forward")
@click.argument("job_id")
@click.argument("name")
@click.argument("local", required=False, type=click.IntRange(0, 65535))
@click.option("--address", default="127.0.0.1", show_default=True, help="Local address.")
@store_option
def port_forward(job_id: str, name: str, local: int | None, address: str, store: str | None):
    """Reach port NAME of a running job at LOCAL on this machine (default: the same number),
    until Ctrl-C. Locally the job's ports are this machine's already."""
    handle = attach_job(job_id, store)
    ports = {p["name"]: p for p in handle.spec.get("ports") or []}
    if name not in ports:
        have = ", ".join(sorted(ports)) or "none"
        raise click.UsageError(f"job {job_id} has no port named {name!r} (its ports: {have})")
    port = ports[name]
    if handle.backend != "kubernetes":
        endpoint = handle.endpoints()[name]
        click.echo(f"{name}: {endpoint.url or endpoint} (the local backend's ports are this "
                   "machine's: nothing to forward)")  # fmt: skip
        return
    if port["proto"] == "udp":
        raise click.UsageError(f"port {name} is udp: Kubernetes port-forward carries TCP only")
    from kinetic.backends.k8s_stream import port_forward as forward

    def ready(bound: int) -> None:
        click.echo(f"Forwarding from {address}:{bound} -> {name} (port {port['port']} of job "
                   f"{job_id}); Ctrl-C to stop", err=True)  # fmt: skip

    listen = port["port"] if local is None else local
    try:
        forward(handle, port["port"], listen, ready=ready, address=address)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how forwarding ends
    except OSError as exc:
        raise BackendError(f"cannot listen on {address}:{listen}: {exc.strerror}") from None


@jobs.command(context_settings={"ignore_unknown_options": True})
@click.argument("job_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@store_option
@click.pass_context
def shell(ctx: click.Context, job_id: str, command: tuple[str, ...], store: str | None) -> None:
    """A shell in a running job (or COMMAND: kinetic jobs shell ID -- CMD ARGS…).

    On Kubernetes: `sh` in the job's container, through the exec API. Locally: $SHELL (or
    /bin/sh) in the job's working directory with its env; its secret_env values stay with
    the job and are not set here.
    """
    handle = attach_job(job_id, store)
    if handle.backend == "kubernetes":
        from kinetic.backends.k8s_stream import exec_in_job

        ctx.exit(exec_in_job(handle, list(command) or ["sh"]))
    session = get_backend(handle.backend).session(handle)
    if handle.spec.get("secret_env_names"):
        names = ", ".join(handle.spec["secret_env_names"])
        click.echo(f"[kinetic] secret_env ({names}) is not set in this shell: its values "
                   "never leave the job", err=True)  # fmt: skip
    argv = list(command) or [os.environ.get("SHELL") or "/bin/sh"]
    env = {**os.environ, **session["env"]}
    try:
        code = subprocess.call(argv, cwd=session["cwd"], env=env)
    except OSError as exc:
        raise BackendError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    sys.stdout.flush()
    ctx.exit(code if code >= 0 else 128 - code)  # killed by a signal: as a shell says it
