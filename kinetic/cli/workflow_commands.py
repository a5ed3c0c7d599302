"""``kinetic workflow run|status|list|logs|cancel|retry``: workflows from YAML files."""

from __future__ import annotations

import json

import click

from kinetic.cli.app import format_age, main, output_option, print_table, store_option
from kinetic.cli.graph_text import render


@main.group()
def workflow() -> None:
    """Run workflows (jobs that wait for each other) from YAML files."""


def _attach(workflow_id: str, store: str | None):
    from kinetic.client.workflow_handle import attach_workflow

    return attach_workflow(workflow_id, store)


@workflow.command("run")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", default=None, help="local, kubernetes or slurm (default: configured).")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the end; exit 1 unless it succeeded.")
@click.option("--notify", "notify", multiple=True, metavar="URL",
              help="POST one summary here when the workflow ends (repeat; over the file's "
                   "notify:).")  # fmt: skip
@click.option("--notify-on", "notify_on", multiple=True,
              type=click.Choice(["failed", "succeeded", "cancelled"]),
              help="Only these ends send the summary (repeat; default all).")  # fmt: skip
@store_option
def run_cmd(
    path: str,
    backend: str | None,
    wait_: bool,
    notify: tuple[str, ...],
    notify_on: tuple[str, ...],
    store: str | None,
) -> None:
    """Validate PATH whole, submit its jobs and print the workflow id."""
    from pathlib import Path

    import kinetic.workflow

    handle = kinetic.workflow.run(Path(path), store=store, backend=backend,
                                  notify=list(notify) or None,
                                  notify_on=list(notify_on) or None)  # fmt: skip
    click.echo(handle.workflow_id)
    if wait_:
        status = handle.wait()
        _print_graph(handle.graph())
        if status.phase.value != "SUCCEEDED":
            raise SystemExit(1)


@workflow.command()
@click.argument("workflow_id")
@store_option
@output_option
def status(workflow_id: str, store: str | None, output: str) -> None:
    """The graph: each job's status, reason and duration, and what it waits for."""
    graph = _attach(workflow_id, store).graph()
    if output == "json":
        click.echo(json.dumps(graph, indent=2))
        return
    _print_graph(graph)


def _print_graph(graph: dict) -> None:
    click.echo(f"workflow {graph['workflow_id']} ({graph['name']}): {graph['phase']}")
    for line in render(graph["nodes"], [tuple(e) for e in graph["edges"]]):
        click.echo(line)
    if hosts := ", ".join(graph.get("notify_hosts") or ()):  # the summary (hosts only)
        from kinetic.model.status import JobStatus
        from kinetic.wire.notification import describe_deliveries, wanted

        if sent := graph.get("notifications"):
            shown = describe_deliveries(sent)
        elif not JobStatus(graph["phase"]).is_terminal:
            shown = f"when it ends, to {hosts}"
        elif wanted(graph.get("notify_on"), graph["phase"]):
            shown = f"{hosts}: sending"  # its last job's end is being posted
        else:
            shown = f"none for this end (notify_on: {', '.join(graph['notify_on'])})"
        click.echo(f"notifications: {shown}")


@workflow.command("list")
@store_option
@output_option
def list_cmd(store: str | None, output: str) -> None:
    """Workflows recorded in the store, newest first."""
    from kinetic.client.workflow_handle import list_workflows
    from kinetic.model.status import parse_time

    handles = list_workflows(store)
    rows = [(h, h.status()) for h in handles]
    if output == "json":
        click.echo(json.dumps([{"workflow_id": h.workflow_id, "name": h.name,
                                "phase": s.phase.value, "created": h.record.created,
                                "jobs": h.record.jobs} for h, s in rows], indent=2))  # fmt: skip
        return
    print_table(
        ["id", "name", "phase", "jobs", "age"],
        [[h.workflow_id, h.name, s.phase.value, str(len(h.record.jobs)),
          format_age(parse_time(h.record.created))] for h, s in rows],
    )  # fmt: skip


@workflow.command()
@click.argument("workflow_id")
@click.argument("job", required=False)
@store_option
def logs(workflow_id: str, job: str | None, store: str | None) -> None:
    """The output of JOB (a job's name in the workflow), or of every job in order."""
    handles = _attach(workflow_id, store).jobs()
    if job is not None and job not in handles:
        from kinetic.model.errors import SpecError

        raise SpecError("job", job, f"one of {', '.join(handles)}")
    for name, handle in handles.items():
        if job is not None and name != job:
            continue
        if job is None:
            click.echo(f"==> {name} ({handle.job_id}) <==")
        click.echo(handle.logs() or "", nl=False)


@workflow.command()
@click.argument("workflow_id")
@store_option
def cancel(workflow_id: str, store: str | None) -> None:
    """Cancel every job of the workflow that has not ended."""
    handle = _attach(workflow_id, store)
    state = handle.cancel()
    click.echo(f"workflow {workflow_id}: {state.phase.value}")


@workflow.command()
@click.argument("workflow_id")
@store_option
def retry(workflow_id: str, store: str | None) -> None:
    """Run again the failed and cancelled jobs and what depends on them."""
    handle = _attach(workflow_id, store)
    before = dict(handle.record.jobs)
    handle.retry()
    again = [n for n in handle.record.order if before.get(n) != handle.record.jobs.get(n)]
    if not again:
        click.echo(f"workflow {workflow_id}: nothing to retry")
        return
    click.echo(f"workflow {workflow_id}: re-running {', '.join(again)}")
