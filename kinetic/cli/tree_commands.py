"""``kinetic jobs tree JOB_ID``: a job with what it waits for and what waits for it."""

from __future__ import annotations

import json

import click

from kinetic.cli.app import attach_job, jobs, output_option, store_option
from kinetic.cli.graph_text import render


@jobs.command()
@click.argument("job_id")
@store_option
@output_option
def tree(job_id: str, store: str | None, output: str) -> None:
    """JOB_ID's dependencies (all the way up) and dependents (all the way down)."""
    from kinetic.client.dependencies import job_graph

    handle = attach_job(job_id, store)
    nodes, edges = job_graph(handle)
    if output == "json":
        click.echo(json.dumps({"job_id": job_id, "nodes": nodes,
                               "edges": [list(e) for e in edges]}, indent=2))  # fmt: skip
        return
    for line in render(nodes, edges, key="job_id", focus=job_id):
        click.echo(line)
