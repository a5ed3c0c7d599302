"""``kinetic jobs tree JOB_ID``: a job (or batch) with what it waits for and what waits for
it (kinetic.client.job_graph), drawn by graph_text."""

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
    """JOB_ID's dependencies (all the way up) and dependents (all the way down). JOB_ID
    may be a batch's id; a batch is one node, with its items' counts."""
    from kinetic.client.batch_lookup import load_batch
    from kinetic.client.job_graph import job_graph
    from kinetic.model.errors import JobNotFoundError

    try:
        root = attach_job(job_id, store)
    except JobNotFoundError as not_a_job:
        try:
            root = load_batch(job_id, store)
        except JobNotFoundError:
            raise not_a_job from None
    nodes, edges = job_graph(root)
    if output == "json":
        click.echo(json.dumps({"job_id": job_id, "nodes": nodes,
                               "edges": [list(e) for e in edges]}, indent=2))  # fmt: skip
        return
    for line in render(nodes, edges, key="job_id", focus=job_id):
        click.echo(line)
