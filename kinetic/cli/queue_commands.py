"""``kinetic jobs queue``: jobs not yet running and why (kinetic.client.job_queue)."""

from __future__ import annotations

import json

import click

from kinetic.cli.app import format_seconds, jobs, output_option, print_table, store_option
from kinetic.cli.history_commands import short_function


@jobs.command()
@click.option("--namespace", "-n", help="Kubernetes: this namespace (default: configured).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Kubernetes: every namespace.")
@store_option
@output_option
def queue(namespace, all_namespaces, store, output) -> None:
    """Every job not yet running, oldest first: how long it has waited, and why."""
    from kinetic.client.job_queue import queue as read_queue

    entries = read_queue(store=store, namespace=namespace, all_namespaces=all_namespaces)
    if output == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    if not entries:
        click.echo("no job is waiting", err=True)
        return
    print_table(
        ["id", "function", "waited", "attempt", "why"],
        [[e.job_id, short_function(e.function), format_seconds(e.waited), str(e.attempt), e.why]
         for e in entries],
    )  # fmt: skip
