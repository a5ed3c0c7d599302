"""``kinetic runtimes list``: the cluster's runtime table (named job images)."""

from __future__ import annotations

import json

import click

from kinetic.cli.app import KineticGroup, main, output_option, print_table


@main.group(cls=KineticGroup)
def runtimes() -> None:
    """The images jobs can pick with runtime="NAME" (kubernetes)."""


@runtimes.command("list")
@click.option(
    "--operator-namespace",
    help="Namespace of the Kinetic chart, where the table lives (default: the "
    "operator_namespace setting).",
)
@output_option
def list_cmd(operator_namespace: str | None, output: str) -> None:
    """The runtime table the operator uses: name, image, description."""
    from kinetic.backends.k8s_refs import list_runtimes

    table = list_runtimes(operator_namespace)
    if table.problem:
        raise click.ClickException(table.problem)
    rows = [table.runtimes[name].to_dict() for name in sorted(table.runtimes)]
    if output == "json":
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo(f"no runtimes in {table.source} (set the chart value runtimes)", err=True)
        return
    print_table(["name", "image", "python", "description"],
                [[r["name"], r["image"], r["python"], r["description"]] for r in rows])  # fmt: skip
