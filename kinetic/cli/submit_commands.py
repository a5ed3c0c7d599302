"""``kinetic jobs submit [OPTIONS] -- CMD ARGS…``: a command as a job."""

from __future__ import annotations

import sys

import click

from kinetic.cli.app import jobs, output_option, store_option
from kinetic.spec.job_spec import DEFAULT_DEBUG_WAIT


@jobs.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--backend", type=click.Choice(["local", "kubernetes", "slurm"]), help="Where it runs."
)
@click.option("--accelerator", default="cpu", show_default=True, help="cpu, l4, v5litepod-8…")
@click.option("--name", help="A name; the job id starts with it.")
@click.option("--timeout", type=float, help="Seconds before it is stopped (DeadlineExceeded).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="A variable (repeat).")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file for the job's working directory (repeat).")  # fmt: skip
@click.option("--memory", help="Memory limit, e.g. 2Gi.")
@click.option("--cpu", help="CPU request and limit (kubernetes), e.g. 2 or 500m.")
@click.option("--start-at", help="ISO-8601 time before which it does not start.")
@click.option("--depends-on", multiple=True, metavar="JOB_ID",
              help="Start only once this job has succeeded (repeat).")  # fmt: skip
@click.option("--no-upload", is_flag=True, help="Do not keep KINETIC_OUTPUT_DIR.")
@click.option("--retries", type=int, help="Retry up to N times (infrastructure failures).")
@click.option("--retry-on-error", is_flag=True, help="Also retry the command's own failures.")
@click.option("--retry-backoff", type=float, help="Seconds before the first retry (doubling).")
@click.option("--output-sync", type=float,
              help="Seconds from an output file's change to the store (default 10).")  # fmt: skip
@click.option("--resume-from", help="Start from this job's outputs (KINETIC_OUTPUT_DIR).")
@click.option("--no-resume", is_flag=True, help="Retries start with an empty output directory.")
@click.option("--spot", is_flag=True, help="On spot (preemptible) nodes (kubernetes).")
@click.option("--runtime", help="An image of the cluster's table (kinetic runtimes list).")
@click.option("--volume", "volumes", multiple=True, metavar="CLAIM:/PATH[:ro]",
              help="Mount a PersistentVolumeClaim (repeat); NAME=SIZE[:/PATH] for scratch "
                   "space in memory.")  # fmt: skip
@click.option("--partition", help="The SLURM partition (backend slurm).")
@click.option("--network", help="Only pods of this network may reach the job (kubernetes).")
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
@click.option(
    "--debug",
    is_flag=True,
    help="Run debugpy in the job, waiting for `kinetic jobs debug ID` to attach.",
)
@click.option(
    "--debug-wait",
    type=float,
    help=f"Seconds the job waits for a debugger before it runs (default {DEFAULT_DEBUG_WAIT:g}).",
)
@click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="URL",
    help="Post the job's end to this URL (repeat); Slack webhooks get Slack's format.",
)
@click.option("--notify-on", "notify_on", multiple=True,
              type=click.Choice(["failed", "succeeded", "cancelled"]),
              help="Only these ends notify (repeat; default all).")  # fmt: skip
@click.option("--follow", "-f", is_flag=True, help="Print its output, then exit with its code.")
@store_option
@output_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def submit(command, env, files, no_upload, retry_on_error, volumes, ssh, follow, output,
           no_resume, spot, debug, **options):  # fmt: skip
    """Run a command as a job: kinetic jobs submit [OPTIONS] -- CMD ARGS…

    Options named like JobSpec's (--timeout, --memory, --retries…) pass straight through.
    """
    from kinetic.client.submit import submit_command

    variables = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--env")
        variables[key] = value
    options.update(
        env=variables,
        files=list(files) or None,
        upload=not no_upload,
        volumes=volume_options(volumes) or None,
        ports=list(options["ports"]) or None,
        depends_on=list(options["depends_on"]) or None,
        retry_on_error=retry_on_error or None,  # unset flags: the spec's defaults
        ssh=ssh or None,
        resume=False if no_resume else None,
        spot=spot or None,
        debug=debug or None,
        notify=list(options["notify"]) or None,
        notify_on=list(options["notify_on"]) or None,
    )
    handle = submit_command(list(command), **{k: v for k, v in options.items() if v is not None})
    if output == "json":
        click.echo(handle.to_json())
    else:
        click.echo(handle.job_id)
    if follow:
        handle.logs(follow=True, file=sys.stderr if output == "json" else None)
        handle.result(cleanup=False)


def volume_options(values: tuple[str, ...]) -> list:
    """``--volume`` values: ``CLAIM:/PATH[:ro]`` as JobSpec takes it, and ``NAME=SIZE:/PATH``
    (or ``NAME=SIZE``: at /mnt/NAME) for memory scratch."""
    volumes: list = []
    for value in values:
        head, colon, path = value.partition(":")
        if "=" not in head:
            volumes.append(value)
            continue
        name, _, size = head.partition("=")
        scratch = {"type": "memory", "name": name, "size": size}
        volumes.append({**scratch, "path": path} if colon else scratch)
    return volumes
