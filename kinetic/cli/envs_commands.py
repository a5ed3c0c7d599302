"""``kinetic envs list | show KEY | prune [--older-than 30d]``: the cached job
environments (requirements=) on this machine and in the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from kinetic.cli.app import KineticGroup, main, output_option, print_table

store_flag = click.option(
    "--store", envvar="KINETIC_STORE", default=None,
    help="Also the environments packed into this store (default: the configured store).",
)  # fmt: skip
local_flag = click.option("--local-only", is_flag=True, help="Only this machine's cache.")


def _store(store: str | None, local_only: bool) -> str | None:
    if local_only:
        return None
    from kinetic.spec import settings

    return settings.resolve("store", store).value


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _when(seconds: float) -> str:
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


@main.group(cls=KineticGroup)
def envs() -> None:
    """Cached job environments (requirements=): built once per key, reused by later jobs."""


@envs.command("list")
@store_flag
@local_flag
@output_option
def list_cmd(store: str | None, local_only: bool, output: str) -> None:
    """KEY, where it is (local/store), size, last use, requirements."""
    from kinetic.client.environments import list_environments

    rows = list_environments(_store(store, local_only))
    if output == "json":
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no cached environments", err=True)
        return
    print_table(
        ["key", "where", "size", "last used", "python", "requirements"],
        [[r["key"][:12], r["where"], _size(r["size"]), _when(r["last_used"]),
          r.get("python", "?"), " ".join(r.get("requirements") or [])] for r in rows],
    )  # fmt: skip


@envs.command("show")
@click.argument("key")
@store_flag
@local_flag
def show_cmd(key: str, store: str | None, local_only: bool) -> None:
    """Everything recorded of one environment (KEY or a prefix of it)."""
    from kinetic.client.environments import find_environment, list_environments

    for row in find_environment(list_environments(_store(store, local_only)), key):
        click.echo(json.dumps(row, indent=2, sort_keys=True))


@envs.command("prune")
@click.option("--older-than", default=None, help="Only those unused for this long: 30d, 12h…")
@store_flag
@local_flag
def prune_cmd(older_than: str | None, store: str | None, local_only: bool) -> None:
    """Delete cached environments (all of them without --older-than); jobs rebuild them."""
    from kinetic.client.environments import parse_age, prune

    age = parse_age(older_than) if older_than else None
    removed = prune(_store(store, local_only), age)
    for row in removed:
        click.echo(f"removed {row['key']} ({row['where']}, {_size(row['size'])})")
    if not removed:
        click.echo("nothing to prune", err=True)
