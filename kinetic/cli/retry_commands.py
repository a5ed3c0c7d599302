"""``kinetic jobs retry``: run a finished job again (kinetic.client.job_retry)."""

from __future__ import annotations

import json
import warnings

import click

from kinetic.cli.app import attach_job, jobs, output_option, store_option


@jobs.command()
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds.")
@click.option("--memory", help="Memory, e.g. 4Gi.")
@click.option("--cpu", help="CPU, e.g. 2 or 500m.")
@click.option("--accelerator", help="An accelerator, e.g. cpu, l4, v5e-8.")
@click.option("--retries", type=click.IntRange(min=0), help="Retries of the new job.")
@click.option("--resume-from", metavar="JOB_ID", help="Start from this job's outputs.")
@click.option("--force", is_flag=True, help="Also run a job that succeeded.")
@store_option
@output_option
def retry(job_id, timeout, memory, cpu, accelerator, retries, resume_from, force, store, output):
    """Run a failed or cancelled job again as a new job, from its stored payload and spec
    (options given here override the recorded ones)."""
    given = {"timeout": timeout, "memory": memory, "cpu": cpu, "accelerator": accelerator,
             "retries": retries, "resume_from": resume_from}  # fmt: skip
    overrides = {k: v for k, v in given.items() if v is not None}
    from kinetic.client.notify_carry import NotifyNotCarried

    with warnings.catch_warnings(record=True) as caught:  # what the retry could not carry
        warnings.simplefilter("always", NotifyNotCarried)
        new = attach_job(job_id, store).retry(force=force, **overrides)
    notes = [str(w.message) for w in caught if issubclass(w.category, NotifyNotCarried)]
    for other in (w for w in caught if not issubclass(w.category, NotifyNotCarried)):
        warnings.showwarning(other.message, other.category, other.filename, other.lineno)
    hosts = new.spec.get("notify_hosts") or []
    if output == "json":
        click.echo(json.dumps({"job_id": new.job_id, "retry_of": job_id, "overrides": overrides,
                               "notify_hosts": hosts, "notes": notes}))  # fmt: skip
    else:
        click.echo(f"{job_id}: retried as {new.job_id}")
        if hosts and not notes:
            click.echo(f"notify: {', '.join(hosts)}")
    for note in notes:
        click.echo(f"note: {note}", err=True)
