"""What every ``kinetic`` subcommand shares: the root group, exit codes, output helpers.

Exit codes: 0 ok, 1 the job failed, 2 usage, 3 not found, 4 timed out. Errors are one line
on stderr; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click

from kinetic.model.errors import (
    InvalidJobIdError,
    JobFailedError,
    JobNotFoundError,
    KineticError,
    SpecError,
)
from kinetic.model.status import JobState, utcnow

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT = 0, 1, 2, 3, 4

output_option = click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", help="Output format."
)
store_option = click.option(
    "--store", envvar="KINETIC_STORE", default=None, help="Store URI (default: configured)."
)


class KineticGroup(click.Group):
    """Turns Kinetic's errors into one line and an exit code (the traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except BrokenPipeError:  # `kinetic jobs list | head`: the reader has what it wanted
            _silence_stdout()
            ctx.exit(EXIT_OK)
        except Exception as exc:
            if ctx.find_root().params.get("debug"):
                traceback.print_exc()
            code = _exit_code(exc)
            if getattr(exc, "__notes__", None) or isinstance(exc, JobFailedError):
                _print_failure(exc)  # the job's own failure, with its remote traceback
            elif code != EXIT_FAILED or isinstance(exc, KineticError):
                click.echo(f"error: {exc}", err=True)
            else:
                click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into the closed pipe
    does not print an error of its own."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, JobNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, TimeoutError):
        return EXIT_TIMEOUT
    if isinstance(exc, SpecError | InvalidJobIdError):
        return EXIT_USAGE
    return EXIT_FAILED


def _print_failure(exc: BaseException) -> None:
    """A job's exception: its remote traceback (from the note), then the one-line error."""
    for note in getattr(exc, "__notes__", []):
        click.echo(note, err=True)
    click.echo(f"error: {type(exc).__name__}: {exc}", err=True)


@click.group(cls=KineticGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="kinetic")
def main(debug: bool) -> None:
    """Kinetic: run Python functions as detached jobs, locally or on Kubernetes."""


@main.group(cls=KineticGroup)
def jobs() -> None:
    """Find, follow and control jobs."""


# -- formatting helpers ----------------------------------------------------------------------
def format_age(when: datetime | None) -> str:
    if when is None:
        return "-"
    return format_seconds((utcnow() - when).total_seconds())


def format_seconds(value: float | None) -> str:
    """Like kubectl's ages: 45s, 3m5s, 2h7m, 4d3h."""
    if value is None:
        return "-"
    total = int(value)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def format_progress(state: JobState) -> str:
    return format_fraction((state.progress or {}).get("fraction"))


def format_fraction(fraction: Any) -> str:
    """A reported fraction done as a percentage; "-" when none was reported."""
    return f"{fraction * 100:.0f}%" if isinstance(fraction, int | float) else "-"


# Beyond this many rows a terminal gets the plain layout too: rich measures every cell
# before it prints the first (100,000 jobs would take a minute).
RICH_TABLE_ROWS = 2000


def print_table(columns: list[str], rows: Iterable[list[str]]) -> None:
    """Aligned on a terminal, tab-separated otherwise (for scripts: ``cut``, ``awk``).
    ``rows`` may be a generator: the plain layout writes lines as they are formatted, so
    a listing of 100,000 jobs builds no list of rows (whose objects would keep the cycle
    collector busy)."""
    if sys.stdout.isatty():
        rows = list(rows)
        if len(rows) <= RICH_TABLE_ROWS:
            from rich.console import Console
            from rich.table import Table

            table = Table(*columns, box=None, header_style="bold")
            for row in rows:
                table.add_row(*row)
            Console().print(table)
            return
    lines = ("\t".join(row) + "\n" for row in rows)
    sys.stdout.write("\t".join(c.upper() for c in columns) + "\n" + "".join(lines))
    sys.stdout.flush()


def print_json_list(items: Iterable[Any]) -> None:
    """A JSON array, one element per line: what ``json.dumps(items, indent=2)`` says, but
    by the C encoder (``indent`` falls back to the pure-Python one, ~7 times slower over a
    100,000-job listing), and still readable line by line."""
    lines = ",\n".join(json.dumps(item) for item in items)
    sys.stdout.write(f"[\n{lines}\n]\n" if lines else "[]\n")
    sys.stdout.flush()


def state_json(handle, state: JobState) -> dict[str, Any]:
    data = state.to_dict()
    data.update(job_id=handle.job_id, function=handle.function, backend=handle.backend)
    data["store"] = handle.store
    return data


def attach_job(job_id: str, store: str | None):
    from kinetic.client.listing import attach

    return attach(job_id, store)
