"""``kinetic config``, ``kinetic doctor`` and ``kinetic operator run``."""

from __future__ import annotations

import json
import sys

import click

from kinetic.cli.app import EXIT_FAILED, main, output_option, print_table, store_option
from kinetic.spec import settings


# -- kinetic config / doctor ---------------------------------------------------------------------
@main.command("config")
@output_option
def config_cmd(output: str) -> None:
    """Each setting's resolved value and where it came from."""
    resolved = settings.resolve_all()
    if output == "json":
        data = {s.name: {"value": s.shown(), "source": s.source} for s in resolved}
        click.echo(json.dumps({"config_file": str(settings.config_path()), "settings": data}))
        return
    click.echo(f"config file: {settings.config_path()}")
    print_table(
        ["setting", "value", "source"],
        [[s.name, "-" if s.value is None else str(s.shown()), s.source] for s in resolved],
    )


@main.command()
@store_option
@click.option(
    "--cluster/--no-cluster",
    default=None,
    help="Also check the Kubernetes cluster: reachable, CRD, operator alive, your RBAC "
    "(default: when the backend setting is kubernetes).",
)
@click.option("--queue", help="Also check that this Kueue LocalQueue exists (queue=).")
def doctor(store: str | None, cluster: bool | None, queue: str | None) -> None:
    """Check that the configured store works end to end (and the cluster, for kubernetes;
    SLURM and a probe job, for slurm)."""
    from kinetic.client.doctor import check_cluster, check_store

    def show(checks) -> bool:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"[{mark}] {check.name}: {check.detail}")
        return all(c.ok for c in checks)

    ok = show(check_store(settings.resolve("store", store).value))
    if cluster is None:
        cluster = settings.resolve("backend").value == "kubernetes"
    if cluster:
        cluster_checks = check_cluster()
        ok = show(cluster_checks) and ok
        if cluster_checks[0].ok:  # the cluster answers: is Kueue there (and the queue)?
            from kinetic.client.kueue_doctor import check_kueue

            ok = show(check_kueue(queue=queue)) and ok
    if settings.resolve("backend").value == "slurm":
        from kinetic.client.slurm_doctor import check_slurm

        ok = show(check_slurm(settings.resolve("store", store).value)) and ok
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
