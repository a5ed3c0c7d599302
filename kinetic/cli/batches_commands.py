"""``kinetic batches list|status|results|retry|cancel|cleanup`` (f.run_async_map's batches).

A batch's items are jobs too: ``kinetic jobs list --batch ID`` lists them, and every
``kinetic jobs`` command works on one of them (``BATCH_ID-INDEX``).
"""

from __future__ import annotations

import json
from typing import Any

import click

from kinetic.cli.app import EXIT_FAILED, format_age, main, output_option, print_table, store_option
from kinetic.model.status import parse_time


@main.group()
def batches() -> None:
    """Find, follow and control batches (f.run_async_map)."""


def _attach(batch_id: str, store: str | None):
    from kinetic.client.batch_lookup import attach_batch

    return attach_batch(batch_id, store)


def _summary(batch, counts: dict[str, int]) -> dict[str, Any]:
    record = batch.record
    return {
        "batch_id": record.batch_id, "function": record.function, "items": record.count,
        "counts": counts, "max_concurrent": record.max_concurrent, "retries": record.retries,
        "fail_fast": record.fail_fast, "name": record.name, "tags": record.tags,
        "created": record.created, "backend": record.backend, "store": record.store,
        "collected": batch.collected() or None,
        "notify_hosts": record.notify_hosts or None,
    }  # fmt: skip


@batches.command("list")
@store_option
@output_option
def list_cmd(store: str | None, output: str) -> None:
    """Batches newest first, with their items' counts."""
    from kinetic.client.batch_handle import counts_line
    from kinetic.client.batch_lookup import list_batches

    rows = [(b, b.status_counts()) for b in list_batches(store)]
    if output == "json":
        click.echo(json.dumps([_summary(b, c) for b, c in rows], indent=2))
        return
    print_table(
        ["id", "function", "items", "progress", "age"],
        [[b.batch_id, b.record.function.rpartition(".")[2], str(b.record.count),
          counts_line(c, b.record.count), format_age(parse_time(b.record.created))]
         for b, c in rows],
    )  # fmt: skip


@batches.command()
@click.argument("batch_id")
@store_option
@output_option
def status(batch_id: str, store: str | None, output: str) -> None:
    """A batch's counts, and its items that did not succeed."""
    from kinetic.client.batch_handle import counts_line
    from kinetic.model.batch_record import count_statuses

    batch = _attach(batch_id, store)
    states = batch.states()
    counts = count_statuses(states)
    if output == "json":
        data = _summary(batch, counts)
        data["items_not_succeeded"] = [
            {"index": i, **s.to_dict()} for i, s in enumerate(states)
            if s.status.value not in ("SUCCEEDED",)
        ]  # fmt: skip
        data["notifications"] = batch.notifications() if batch.record.notify_hosts else None
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{batch_id}  {batch.record.function}  {counts_line(counts, len(batch))}")
    if batch.record.notify_hosts:  # notify=: the one summary's delivery, by host
        from kinetic.wire.notification import describe_deliveries

        click.echo(f"  notifications: {describe_deliveries(batch.notifications())}")
    for i, s in enumerate(states):
        if s.status.is_terminal and s.status.value != "SUCCEEDED":
            click.echo(f"  item {i}: {s.status.value} ({s.reason or '-'}) {s.message or ''}")


@batches.command()
@click.argument("batch_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Give up after S seconds (exit 4).")
@click.option("--cleanup/--no-cleanup", default=False, show_default=True,
              help="Remove the items that succeeded once collected.")  # fmt: skip
@store_option
@output_option
def results(batch_id: str, timeout: float | None, cleanup: bool, store, output: str) -> None:
    """Wait for a batch and print each item's value (or its error); exit 1 if any failed."""
    batch = _attach(batch_id, store)
    values = batch.results(cleanup=cleanup, return_exceptions=True, timeout=timeout)
    failed = [i for i, v in enumerate(values) if isinstance(v, BaseException)]
    if output == "json":
        items = []
        for i, v in enumerate(values):
            if isinstance(v, BaseException):
                items.append({"index": i, "error": f"{type(v).__name__}: {v}"})
                continue
            try:
                json.dumps(v)
                items.append({"index": i, "value": v})
            except TypeError:
                items.append({"index": i, "value": None, "repr": repr(v)})
        click.echo(json.dumps({"batch_id": batch_id, "items": items}, indent=2))
    else:
        for i, v in enumerate(values):
            shown = f"error: {type(v).__name__}: {v}" if isinstance(v, BaseException) else repr(v)
            click.echo(f"{i}\t{shown}")
    if failed:
        raise SystemExit(EXIT_FAILED)


@batches.command()
@click.argument("batch_id")
@store_option
@output_option
def retry(batch_id: str, store: str | None, output: str) -> None:
    """Run the failed items again (and those fail_fast never started), in the same batch."""
    queued = _attach(batch_id, store).retry_failed()
    if output == "json":
        click.echo(json.dumps({"batch_id": batch_id, "queued": queued}))
    else:
        click.echo(f"{batch_id}: {len(queued)} item(s) queued again: {queued}")


@batches.command()
@click.argument("batch_id")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until it stopped.")
@store_option
@output_option
def cancel(batch_id: str, wait: bool, store: str | None, output: str) -> None:
    """Stop a batch: waiting items never start, running ones are cancelled."""
    from kinetic.client.batch_handle import counts_line

    batch = _attach(batch_id, store)
    counts = batch.cancel(wait=wait)
    if output == "json":
        click.echo(json.dumps({"batch_id": batch_id, "counts": counts}))
    else:
        click.echo(f"{batch_id}: {counts_line(counts, len(batch))}")


@batches.command()
@click.argument("batch_id")
@store_option
def cleanup(batch_id: str, store: str | None) -> None:
    """Remove a batch: its running items are cancelled, then every item and its records."""
    _attach(batch_id, store).cleanup()
    click.echo(f"{batch_id}: removed")
