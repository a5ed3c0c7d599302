"""The ``kinetic`` command: ``kinetic jobs …``, ``kinetic config``, ``kinetic doctor``.

Exit codes: 0 ok, 1 the job failed, 2 usage, 3 not found, 4 timed out. Errors are one line
on stderr; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from . import config
from .errors import (
    InvalidJobIdError,
    JobFailedError,
    JobNotFoundError,
    KineticError,
    SpecError,
)
from .status import JobState, JobStatus, utcnow

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
def _age(when: datetime | None) -> str:
    if when is None:
        return "-"
    return _seconds((utcnow() - when).total_seconds())


def _seconds(value: float | None) -> str:
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


def _progress(state: JobState) -> str:
    if not state.progress:
        return "-"
    fraction = state.progress.get("fraction")
    return f"{fraction * 100:.0f}%" if isinstance(fraction, int | float) else "-"


def _table(columns: list[str], rows: list[list[str]]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, box=None, header_style="bold")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        click.echo("\t".join(c.upper() for c in columns))
        for row in rows:
            click.echo("\t".join(row))


def _state_json(handle, state: JobState) -> dict[str, Any]:
    data = state.to_dict()
    data.update(job_id=handle.job_id, function=handle.function, backend=handle.backend)
    data["store"] = handle.store
    return data


def _attach(job_id: str, store: str | None):
    from .jobs import attach

    return attach(job_id, store)


# -- kinetic jobs … ------------------------------------------------------------------------------
@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus], case_sensitive=False))
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many jobs.")
@click.option("--namespace", "-n", help="Kubernetes: this namespace (default: configured).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Kubernetes: every namespace.")
@store_option
@output_option
def list_cmd(status, limit, namespace, all_namespaces, store, output) -> None:
    """Jobs newest first: the store's, or the cluster's KineticJobs (kubernetes backend)."""
    from .jobs import list_jobs

    rows = list_jobs(
        store=store, status=status, limit=limit, namespace=namespace, all_namespaces=all_namespaces
    )
    if output == "json":
        click.echo(json.dumps([_state_json(h, s) for h, s in rows], indent=2))
        return
    _table(
        ["id", "function", "status", "reason", "progress", "age", "duration", "backend"],
        [
            [
                h.job_id,
                h.function.rpartition(".")[2],
                s.status.value,
                s.reason or "-",
                _progress(s),
                _age(s.created),
                _seconds(s.duration),
                h.backend,
            ]
            for h, s in rows
        ],
    )


@jobs.command()
@click.argument("job_id")
@store_option
@output_option
def status(job_id: str, store: str | None, output: str) -> None:
    """A job's status, reason and times."""
    handle = _attach(job_id, store)
    state = handle.state()
    if output == "json":
        click.echo(json.dumps(_state_json(handle, state), indent=2))
        return
    fields = [
        ("id", handle.job_id),
        ("function", handle.function),
        ("status", state.status.value),
        ("reason", state.reason or "-"),
        ("message", state.message or "-"),
        ("progress", _progress(state)),
        ("created", str(state.created or "-")),
        ("started", str(state.started or "-")),
        ("finished", str(state.finished or "-")),
        ("duration", _seconds(state.duration)),
        ("exit code", "-" if state.exit_code is None else str(state.exit_code)),
        ("node", state.node or "-"),
        ("backend", handle.backend),
        ("store", handle.store),
    ]
    for name, value in fields:
        click.echo(f"{name + ':':<10} {value}")


@jobs.command()
@click.argument("job_id")
@click.option("--tail", "tail_n", type=click.IntRange(min=1), help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output until the job ends.")
@store_option
def logs(job_id: str, tail_n: int | None, follow: bool, store: str | None) -> None:
    """A job's output (stdout and stderr)."""
    if tail_n and follow:
        raise click.UsageError("--tail and --follow cannot be used together")
    handle = _attach(job_id, store)
    if follow:
        handle.logs(follow=True)
    else:
        click.echo(handle.tail(tail_n) if tail_n else handle.logs(), nl=False)


@jobs.command()
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Give up after S seconds (exit 4).")
@click.option(
    "--cleanup/--no-cleanup", default=True, show_default=True, help="Remove the job on success."
)
@store_option
@output_option
def result(job_id: str, timeout: float | None, cleanup: bool, store: str | None, output: str):
    """Wait for a job and print its return value (exit 1 with its traceback if it failed)."""
    handle = _attach(job_id, store)
    value = handle.result(timeout=timeout, cleanup=cleanup)
    if output == "json":
        try:
            text = json.dumps({"job_id": job_id, "value": value})
        except TypeError:
            text = json.dumps({"job_id": job_id, "value": None, "repr": repr(value)})
        click.echo(text)
    else:
        click.echo(value if isinstance(value, str) else repr(value))


@jobs.command()
@click.argument("job_id")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until it stopped.")
@store_option
@output_option
def cancel(job_id: str, wait: bool, store: str | None, output: str) -> None:
    """Stop a job; it ends CANCELLED with its logs and outputs kept."""
    handle = _attach(job_id, store)
    state = handle.cancel(wait=wait)
    if output == "json":
        click.echo(json.dumps(_state_json(handle, state), indent=2))
    else:
        click.echo(
            f"{job_id}: {state.status.value}" + (f" ({state.reason})" if state.reason else "")
        )


@jobs.command()
@click.argument("job_id")
@click.option("--k8s/--no-k8s", default=True, show_default=True, help="Delete processes/objects.")
@click.option("--gcs/--no-gcs", default=True, show_default=True, help="Delete stored artifacts.")
@store_option
def cleanup(job_id: str, k8s: bool, gcs: bool, store: str | None) -> None:
    """Remove a job's resources and artifacts."""
    handle = _attach(job_id, store)
    handle.cleanup(k8s=k8s, gcs=gcs)
    click.echo(f"{job_id}: cleaned up")


@jobs.command()
@click.argument("job_id")
@click.option("--download", "dest", type=click.Path(file_okay=False, path_type=Path))
@store_option
@output_option
def outputs(job_id: str, dest: Path | None, store: str | None, output: str) -> None:
    """List the files a job wrote to KINETIC_OUTPUT_DIR, or download them."""
    handle = _attach(job_id, store)
    if dest is not None:
        files = [str(p) for p in handle.download(dest)]
        click.echo(json.dumps(files) if output == "json" else "\n".join(files))
        return
    names = handle.outputs()
    click.echo(json.dumps(names) if output == "json" else "\n".join(names))


@jobs.command(context_settings={"ignore_unknown_options": True})
@click.option("--backend", type=click.Choice(["local", "kubernetes"]), help="Where it runs.")
@click.option("--accelerator", default="cpu", show_default=True, help="cpu, l4, v5litepod-8…")
@click.option("--name", help="A name; the job id starts with it.")
@click.option("--timeout", type=float, help="Seconds before it is stopped (DeadlineExceeded).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="A variable (repeat).")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file for the job's working directory (repeat).")  # fmt: skip
@click.option("--memory", help="Memory limit, e.g. 2Gi.")
@click.option("--cpu", help="CPU request and limit (kubernetes), e.g. 2 or 500m.")
@click.option("--start-at", help="ISO-8601 time before which it does not start.")
@click.option("--no-upload", is_flag=True, help="Do not keep KINETIC_OUTPUT_DIR.")
@click.option("--follow", "-f", is_flag=True, help="Print its output, then exit with its code.")
@store_option
@output_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def submit(command, backend, accelerator, name, timeout, env, files, memory, cpu, start_at,
           no_upload, follow, store, output) -> None:  # fmt: skip
    """Run a command as a job: kinetic jobs submit [OPTIONS] -- CMD ARGS…"""
    from .jobs import submit_command

    variables = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--env")
        variables[key] = value
    options = {"backend": backend, "accelerator": accelerator, "name": name, "timeout": timeout,
               "env": variables, "files": list(files) or None, "memory": memory, "cpu": cpu,
               "start_at": start_at, "upload": not no_upload, "store": store}  # fmt: skip
    handle = submit_command(list(command), **{k: v for k, v in options.items() if v is not None})
    if output == "json":
        click.echo(handle.to_json())
    else:
        click.echo(handle.job_id)
    if follow:
        handle.logs(follow=True, file=sys.stderr if output == "json" else None)
        handle.result(cleanup=False)


# -- kinetic config / doctor ---------------------------------------------------------------------
@main.command("config")
@output_option
def config_cmd(output: str) -> None:
    """Each setting's resolved value and where it came from."""
    settings = config.resolve_all()
    if output == "json":
        data = {s.name: {"value": s.value, "source": s.source} for s in settings}
        click.echo(json.dumps({"config_file": str(config.config_path()), "settings": data}))
        return
    click.echo(f"config file: {config.config_path()}")
    _table(
        ["setting", "value", "source"],
        [[s.name, "-" if s.value is None else str(s.value), s.source] for s in settings],
    )


@main.command()
@store_option
@click.option(
    "--cluster/--no-cluster",
    default=None,
    help="Also check the Kubernetes cluster: reachable, CRD, operator alive, your RBAC "
    "(default: when the backend setting is kubernetes).",
)
def doctor(store: str | None, cluster: bool | None) -> None:
    """Check that the configured store works end to end (and the cluster, for kubernetes)."""
    from .doctor import check_cluster, check_store

    def show(checks) -> bool:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"[{mark}] {check.name}: {check.detail}")
        return all(c.ok for c in checks)

    ok = show(check_store(config.resolve("store", store).value))
    if cluster is None:
        cluster = config.resolve("backend").value == "kubernetes"
    if cluster:
        ok = show(check_cluster()) and ok
    if not ok:
        sys.exit(EXIT_FAILED)


@main.group()
def operator() -> None:
    """The Kubernetes operator (normally run by the Helm chart's Deployment)."""


@operator.command("run")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Watch this namespace.")
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch every namespace (default).")
@click.option("--liveness", help="Serve a health probe, e.g. http://0.0.0.0:8080/healthz.")
@click.option("--verbose", "-v", is_flag=True, help="Log every decision.")
def operator_run(namespaces: tuple[str, ...], all_namespaces: bool, liveness, verbose) -> None:
    """Run the operator until interrupted."""
    if namespaces and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces cannot be used together")
    from kinetic_operator.main import run

    run(list(namespaces), liveness=liveness, verbose=verbose)


if __name__ == "__main__":
    main()
