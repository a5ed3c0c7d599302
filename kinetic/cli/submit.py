"""``kinetic jobs submit [OPTIONS] -- CMD ARGS…``: a command as a job."""

from __future__ import annotations

import sys

import click

from .base import jobs, output_option, store_option


@jobs.command(context_settings={"ignore_unknown_options": True})
@click.option("--backend", type=click.Choice(["local", "kubernetes"]), help="Where it runs.")
@click.option("--accelerator", default="cpu", show_default=True, help="cpu, l4, v5litepod-8…")
@click.option("--name", help="A name; the job id starts with it.")
@click.option("--timeout", type=float, help="Seconds before it is stopped (DeadlineExceeded).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="A variable (repeat).")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file for the job's working directory (repeat).")  # fmt: skip
@click.option("--memory", help="Memory limit, e.g. 2Gi.")
@click.option("--cpu", help="CPU request and limit (kubernetes), e.g. 2 or 500m.")
@click.option("--start-at", help="ISO-8601 time before which it does not start.")
@click.option("--no-upload", is_flag=True, help="Do not keep KINETIC_OUTPUT_DIR.")
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME:PORT[/PROTO]",
    help="A port the job listens on (repeat); proto tcp (default), udp or http.",
)
@click.option("--ssh", is_flag=True, help="Run sshd on port 2202 for --ssh-public-key.")
@click.option(
    "--ssh-public-key",
    type=click.Path(exists=True, dir_okay=False),
    help="The public key ssh lets in (default ~/.ssh/id_ed25519.pub or id_rsa.pub).",
)
@click.option("--follow", "-f", is_flag=True, help="Print its output, then exit with its code.")
@store_option
@output_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def submit(command, backend, accelerator, name, timeout, env, files, memory, cpu, start_at,
           no_upload, ports, ssh, ssh_public_key, follow, store, output) -> None:  # fmt: skip
    """Run a command as a job: kinetic jobs submit [OPTIONS] -- CMD ARGS…"""
    from ..jobs import submit_command

    variables = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--env")
        variables[key] = value
    options = {"backend": backend, "accelerator": accelerator, "name": name, "timeout": timeout,
               "env": variables, "files": list(files) or None, "memory": memory, "cpu": cpu,
               "start_at": start_at, "upload": not no_upload, "store": store,
               "ports": list(ports) or None, "ssh": ssh or None,
               "ssh_public_key": ssh_public_key}  # fmt: skip
    handle = submit_command(list(command), **{k: v for k, v in options.items() if v is not None})
    if output == "json":
        click.echo(handle.to_json())
    else:
        click.echo(handle.job_id)
    if follow:
        handle.logs(follow=True, file=sys.stderr if output == "json" else None)
        handle.result(cleanup=False)
