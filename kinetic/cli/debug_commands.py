"""``kinetic jobs debug ID``: reach a debug=True job's debugpy and print VS Code's
launch.json for it (a port-forward on Kubernetes, until Ctrl-C; locally, the job's port)."""

from __future__ import annotations

import json
import os

import click

from kinetic.cli.app import attach_job, jobs, store_option
from kinetic.model.errors import BackendError


@jobs.command()
@click.argument("job_id")
@click.argument("local", required=False, type=click.IntRange(0, 65535))
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Local address of the forward (kubernetes).")  # fmt: skip
@click.option("--wait", "wait", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the job's debugger to listen.")  # fmt: skip
@store_option
def debug(job_id: str, local: int | None, address: str, wait: float, store: str | None) -> None:
    """Attach a debugger to a job submitted with debug=True (or --debug).

    Prints a VS Code launch.json ("request": "attach") on stdout, its path mappings from
    this directory to the job's. On Kubernetes the job's debug port is forwarded to LOCAL
    (default: the same number) until Ctrl-C; locally the job's port is this machine's.
    """
    from kinetic.client.debug_attach import launch_configuration, wait_for_debugger

    handle = attach_job(job_id, store)
    record = wait_for_debugger(handle, wait)
    port = int(record["port"])

    def show(host: str, bound: int) -> None:
        config = launch_configuration(job_id, record, host, bound, os.getcwd())
        click.echo(json.dumps(config, indent=2))

    if handle.backend == "slurm":
        here = port if local is None else local
        show("127.0.0.1", here)
        node = handle.state().node or "NODE"
        click.echo(f"[kinetic] debugpy listens on 127.0.0.1:{port} of node {node}: forward "
                   f"it first, e.g. ssh -L {here}:127.0.0.1:{port} {node}", err=True)  # fmt: skip
        return
    if handle.backend != "kubernetes":
        show(record.get("host") or "127.0.0.1", port)
        click.echo(f"[kinetic] job {job_id}'s debugpy listens on this machine, port {port}: "
                   "attach with the configuration above", err=True)  # fmt: skip
        return
    from kinetic.backends.k8s_stream import port_forward

    def ready(bound: int) -> None:
        show(address, bound)
        click.echo(f"[kinetic] forwarding {address}:{bound} -> debugpy (port {port} of job "
                   f"{job_id}); attach now; Ctrl-C to stop", err=True)  # fmt: skip

    listen = port if local is None else local
    try:
        port_forward(handle, port, listen, ready=ready, address=address)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how forwarding ends
    except OSError as exc:
        raise BackendError(f"cannot listen on {address}:{listen}: {exc.strerror}") from None
