"""``kinetic jobs history``: ended jobs and their statistics (kinetic.client.job_history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from kinetic.cli.app import format_seconds, jobs, output_option, print_table, store_option
from kinetic.model.status import format_time

ENDED = ["SUCCEEDED", "FAILED", "CANCELLED"]


@jobs.command()
@click.option("--since", metavar="AGE", help="Ended within AGE (7d, 12h, 30m, 2w, 1d12h).")
@click.option("--status", type=click.Choice(ENDED, case_sensitive=False))
@click.option("--name", help="Jobs whose name contains this.")
@click.option("--function", help="Jobs whose function contains this (train, model.train).")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Jobs listed (the statistics cover every job matched).")  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="List every job matched.")
@store_option
@output_option
def history(since, status, name, function, limit, show_all, store, output) -> None:
    """Ended jobs, newest first, then counts by status, success rate and p50/p95 duration,
    overall and by function."""
    from kinetic.client.job_history import history as read_history

    found = read_history(store=store, since=since, status=status, name=name,
                         function=function, limit=None if show_all else limit)  # fmt: skip
    if output == "json":
        click.echo(json.dumps(history_json(found), indent=2))
        return
    if found.jobs:
        print_table(
            ["id", "function", "status", "reason", "started", "ended", "duration", "attempts"],
            [[r.job_id, short_function(r.function), r.status, r.reason or "-", _when(r.started),
              _when(r.finished), format_seconds(r.duration), str(r.attempts or "-")]
             for r in found.jobs],
        )  # fmt: skip
        click.echo()
    total = found.total
    scope = f" ended since {format_time(found.since)}" if found.since else ""
    shown = f" ({len(found.jobs)} listed)" if len(found.jobs) < total.count else ""
    click.echo(f"{total.count:,} job{'s' if total.count != 1 else ''}{scope}{shown}: "
               + ", ".join(f"{n:,} {s.lower()}" for s, n in total.by_status.items()))  # fmt: skip
    p50, p95 = format_seconds(total.p50), format_seconds(total.p95)
    rate = _rate(total.success_rate)
    click.echo(f"success rate {rate} (succeeded / succeeded+failed); duration p50 {p50}, p95 {p95}")
    if found.by_function:
        click.echo()
        print_table(
            ["function", "jobs", "succeeded", "failed", "cancelled", "success", "p50", "p95"],
            [[f, f"{s.count:,}", *(f"{s.by_status.get(x, 0):,}" for x in ENDED),
              _rate(s.success_rate), format_seconds(s.p50), format_seconds(s.p95)]
             for f, s in found.by_function.items()],
        )  # fmt: skip


def history_json(found) -> dict:
    return {
        "jobs": [
            {
                **r._asdict(),
                "started": _iso(r.started),
                "finished": _iso(r.finished),
                "created": _iso(r.created),
                "duration": r.duration,
            }
            for r in found.jobs
        ],
        "since": format_time(found.since),
        "summary": found.total.to_dict(),
        "by_function": {f: s.to_dict() for f, s in found.by_function.items()},
    }


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else format_time(datetime.fromtimestamp(epoch, UTC))


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def short_function(function: str) -> str:
    """A function's short name (``train`` for ``model.train``); commands as they are."""
    return function if function.startswith("command:") else function.rpartition(".")[2]
