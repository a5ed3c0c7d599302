"""``kinetic jobs list|status|logs|result|cancel|cleanup|outputs``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from kinetic.cli.app import (
    attach_job,
    format_fraction,
    format_progress,
    format_seconds,
    jobs,
    output_option,
    print_json_list,
    print_table,
    state_json,
    store_option,
)
from kinetic.client.resource_use import resource_use, usage_text
from kinetic.model.job_record import function_name
from kinetic.model.status import JobStatus


# -- kinetic jobs … ------------------------------------------------------------------------------
@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus], case_sensitive=False))
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many jobs.")
@click.option("--namespace", "-n", help="Kubernetes: this namespace (default: configured).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Kubernetes: every namespace.")
@click.option("--batch", "batch_id", help="Only this batch's items (f.run_async_map).")
@store_option
@output_option
def list_cmd(status, limit, namespace, all_namespaces, batch_id, store, output) -> None:
    """Jobs newest first: the store's, or the cluster's KineticJobs (kubernetes backend)."""
    from kinetic.client.listing import list_jobs, list_table

    if output == "json":  # every job's whole state: the handles
        handles = list_jobs(
            store=store, status=status, limit=None if batch_id else limit, namespace=namespace,
            all_namespaces=all_namespaces,
        )  # fmt: skip
        if batch_id:  # its items, in index order
            handles = [h for h in handles if (h.batch or {}).get("id") == batch_id]
            handles.sort(key=lambda h: (h.batch or {}).get("index", 0))
            handles = handles[:limit] if limit else handles
        print_json_list(state_json(h, h.listed_state) for h in handles if h.listed_state)
        return
    table = list_table(store=store, status=status, limit=limit, batch=batch_id or "",
                       namespace=namespace, all_namespaces=all_namespaces)  # fmt: skip
    now = time.time()
    print_table(
        ["id", "function", "status", "reason", "progress", "age", "duration", "backend"],
        (
            [
                row.job_id,
                function_name(row.function),
                row.status,
                row.reason or "-",
                format_fraction(row.progress),
                "-" if row.created is None else format_seconds(now - row.created),
                format_seconds(row.duration),
                row.backend,
            ]
            for row in table
        ),
    )


@jobs.command()
@click.argument("job_id")
@store_option
@output_option
def status(job_id: str, store: str | None, output: str) -> None:
    """A job's status, reason and times."""
    handle = attach_job(job_id, store)
    state = handle.state()
    retried_as = handle.retried_as()
    if output == "json":
        links = {"retry_of": handle.retry_of, "retried_as": retried_as}
        click.echo(json.dumps({**state_json(handle, state), **links}, indent=2))
        return
    fields = [
        ("id", handle.job_id),
        ("function", handle.function),
        ("status", state.status.value),
        ("reason", state.reason or "-"),
        ("message", state.message or "-"),
        ("progress", format_progress(state)),
        ("created", str(state.created or "-")),
        ("started", str(state.started or "-")),
        ("finished", str(state.finished or "-")),
        ("duration", format_seconds(state.duration)),
        ("exit code", "-" if state.exit_code is None else str(state.exit_code)),
        ("attempts", str(state.attempts or "-")),
        *[(f"attempt {r['attempt']}", _attempt_line(r)) for r in state.previous_attempts],
        ("node", state.node or "-"),
        ("resources", usage_text(resource_use(handle, state)) or "-"),
        # The links of a retried job, when there are any (-o json always has both keys).
        *([("retry of", handle.retry_of)] if handle.retry_of else []),
        *([("retried as", ", ".join(retried_as))] if retried_as else []),
        *_notification_lines(state),
        ("backend", handle.backend),
        ("store", handle.store),
    ]
    width = max(len(name) for name, _ in fields) + 2
    for name, value in fields:
        click.echo(f"{name + ':':<{width}}{value}")


def _notification_lines(state) -> list[tuple[str, str]]:
    """notify=: each URL's delivery (by host), once the job has ended."""
    from kinetic.wire.notification import describe_deliveries

    records = state.extra.get("notifications")
    return [("notifications", describe_deliveries(records))] if records else []


def _attempt_line(record: dict) -> str:
    """An earlier attempt in one line: its reason, message and when it ended."""
    text = record.get("reason") or "?"
    if record.get("message"):
        text += f": {record['message'].splitlines()[0][:120]}"
    return text + (f" (ended {record['finished']})" if record.get("finished") else "")


@jobs.command()
@click.argument("job_id")
@click.option("--tail", "tail_n", type=click.IntRange(min=1), help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output until the job ends.")
@click.option("--attempt", type=click.IntRange(min=1), help="A retried job's Nth attempt.")
@store_option
def logs(job_id: str, tail_n: int | None, follow: bool, attempt: int | None, store) -> None:
    """A job's output (stdout and stderr): its latest attempt's, unless --attempt."""
    if tail_n and follow:
        raise click.UsageError("--tail and --follow cannot be used together")
    handle = attach_job(job_id, store)
    if follow:
        handle.logs(follow=True, attempt=attempt)
    elif tail_n:
        click.echo(handle.tail(tail_n, attempt=attempt), nl=False)
    else:
        click.echo(handle.logs(attempt=attempt), nl=False)


@jobs.command()
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Give up after S seconds (exit 4).")
@click.option(
    "--cleanup/--no-cleanup", default=True, show_default=True, help="Remove the job on success."
)
@click.option(
    "--verify/--no-verify", default=True, show_default=True,
    help="Refuse a result no record outside the store vouches for (Kubernetes, after cleanup).",
)  # fmt: skip
@store_option
@output_option
def result(
    job_id: str, timeout: float | None, cleanup: bool, verify: bool, store: str | None, output: str
):
    """Wait for a job and print its return value (exit 1 with its traceback if it failed)."""
    handle = attach_job(job_id, store)
    value = handle.result(timeout=timeout, cleanup=cleanup, verify=verify)
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
    handle = attach_job(job_id, store)
    if wait:
        _say_stopping(handle)
    state = handle.cancel(wait=wait)
    if output == "json":
        click.echo(json.dumps(state_json(handle, state), indent=2))
    else:
        click.echo(
            f"{job_id}: {state.status.value}" + (f" ({state.reason})" if state.reason else "")
        )


FINISHED = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


@jobs.command()
@click.argument("job_id", required=False)
@click.option("--finished", is_flag=True, help="Every finished job (instead of one JOB_ID).")
@click.option(
    "--older-than", metavar="AGE", help="With --finished: ended before AGE ago (7d, 12h, 30m)."
)
@click.option("--status", type=click.Choice([s.value for s in FINISHED], case_sensitive=False),
              help="With --finished: only jobs that ended so.")  # fmt: skip
@click.option("--k8s/--no-k8s", default=True, show_default=True, help="Delete processes/objects.")
@click.option("--gcs/--no-gcs", default=True, show_default=True, help="Delete stored artifacts.")
@store_option
def cleanup(job_id, finished, older_than, status, k8s, gcs, store) -> None:
    """Remove a job's resources and artifacts, or (--finished) every finished job's."""
    if bool(job_id) == finished:
        raise click.UsageError("give a JOB_ID or --finished (not both)")
    if not finished and (older_than or status):
        raise click.UsageError("--older-than and --status go with --finished")
    if job_id:
        handle = attach_job(job_id, store)
        if k8s:
            _say_stopping(handle)
        handle.cleanup(k8s=k8s, gcs=gcs)
        click.echo(f"{job_id}: cleaned up")
        return
    from kinetic.client.listing import list_jobs

    age = parse_age(older_than) if older_than else None
    chosen = [h for h in list_jobs(store=store, status=status)
              if finished_before(h.listed_state, age)]  # fmt: skip
    for handle in chosen:
        handle.cleanup(k8s=k8s, gcs=gcs)
    click.echo(f"removed {len(chosen)} finished job{'s' if len(chosen) != 1 else ''}")


def parse_age(text: str) -> float:
    """Seconds from "7d", "12h", "30m", "45s" (or a combination, "1d12h")."""
    import re

    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise click.BadParameter(f"{text!r}: an age such as 7d, 12h, 30m or 1d12h",
                                 param_hint="--older-than")  # fmt: skip
    return float(sum(int(n) * units[u] for n, u in parts))


def finished_before(state, age: float | None) -> bool:
    """A finished job, which ended more than ``age`` seconds ago (any time when None)."""
    from kinetic.model.status import utcnow

    if state is None or state.status not in FINISHED:
        return False
    if age is None:
        return True
    ended = state.finished or state.created
    return ended is not None and (utcnow() - ended).total_seconds() > age


def _say_stopping(handle) -> None:
    """Before waiting for a running job to stop, say so (on stderr: stdout is the answer)."""
    state = handle.state()
    if state.status.is_terminal or state.status == JobStatus.NOT_FOUND:
        return
    grace = handle.spec.get("grace_period")
    within = f" of {float(grace):g}s" if grace is not None else ""
    click.echo(
        f"{handle.job_id}: {state.status.value}; interrupting it and waiting for it to stop "
        f"(killed if still running after its grace period{within})…",
        err=True,
    )


@jobs.command()
@click.argument("job_id")
@click.option("--download", "dest", type=click.Path(file_okay=False, path_type=Path))
@store_option
@output_option
def outputs(job_id: str, dest: Path | None, store: str | None, output: str) -> None:
    """List the files a job wrote to KINETIC_OUTPUT_DIR, or download them."""
    handle = attach_job(job_id, store)
    if dest is not None:
        files = [str(p) for p in handle.download(dest)]
        click.echo(json.dumps(files) if output == "json" else "\n".join(files))
        return
    names = handle.outputs()
    click.echo(json.dumps(names) if output == "json" else "\n".join(names))
