"""``kinetic cluster``: what the machines can take (kinetic.client.capacity_local on the
local backend, kinetic.client.capacity_k8s on Kubernetes); ``--watch`` redraws it."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from kinetic.cli.app import main, output_option, store_option


@main.command()
@click.option("--backend", type=click.Choice(["local", "kubernetes"]), default=None,
              help="Which machines (default: the configured backend).")  # fmt: skip
@click.option("--watch", "-w", is_flag=True, help="Redraw every --interval seconds.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=2.0, show_default=True)
@store_option
@output_option
def cluster(backend, watch, interval, store, output) -> None:
    """CPUs, memory, disks and accelerators: what is there, used and free."""
    from kinetic.spec import settings

    chosen = settings.resolve("backend", backend).value
    if chosen not in ("local", "kubernetes"):
        raise click.UsageError(f"kinetic cluster knows local and kubernetes, not {chosen}")
    while True:
        data = _read(chosen, store)
        if output == "json":
            click.echo(json.dumps(data, indent=None if watch else 2))
        else:
            if watch:
                click.clear()
            _print(data)
        if not watch:
            return
        time.sleep(interval)


def _read(backend: str, store: str | None) -> dict[str, Any]:
    if backend == "kubernetes":
        from kinetic.client.capacity_k8s import cluster_capacity

        return cluster_capacity()
    from kinetic.client.capacity_local import local_capacity

    return local_capacity(store)


def _size(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "-"


def _print(data: dict[str, Any]) -> None:
    from kinetic.cli.app import print_table

    if data["backend"] == "kubernetes":
        rows = []
        for g in data["groups"]:
            alloc, used, free = g["allocatable"], g["requested"], g["free"]

            def trio(name: str, fmt=str, a=alloc, u=used, f=free) -> str:
                if name not in a:
                    return "-"
                return f"{fmt(u[name])}/{fmt(a[name])} ({fmt(f[name])} free)"

            rows.append([g["accelerator"], g["pool"], f"{g['ready']}/{g['nodes']}",
                         trio("gpu"), trio("tpu"), trio("cpu"), trio("memory_bytes", _size),
                         str(g["pending_jobs"])])  # fmt: skip
        print_table(["accelerator", "pool", "nodes ready", "gpu used/alloc", "tpu used/alloc",
                     "cpu used/alloc", "memory used/alloc", "pending jobs"], rows)  # fmt: skip
        return
    cpus, mem = data["cpus"], data["memory"]
    load = " ".join(str(x) for x in cpus.get("load", [])) or "-"
    click.echo(f"host:    {data['host']}")
    click.echo(f"cpus:    {cpus.get('count')} (usable {cpus.get('usable')}), load {load}")
    if mem:
        click.echo(f"memory:  {_size(mem['available_bytes'])} available of "
                   f"{_size(mem['total_bytes'])}")  # fmt: skip
    for d in data["disks"]:
        click.echo(f"disk:    {d['what']} {d.get('path', '-')}: {_size(d.get('free_bytes'))} free "
                   f"of {_size(d.get('total_bytes'))}")  # fmt: skip
    for g in data["gpus"]:
        used, total = _size(g["memory_used_bytes"]), _size(g["memory_total_bytes"])
        click.echo(f"gpu {g['index']}:   {g['name']}, {used} used of {total}, "
                   f"{g['utilization_percent']}% busy")  # fmt: skip
    if not data["gpus"]:
        click.echo("gpus:    none (no nvidia-smi)")
    click.echo("")
    rows = [[j["job_id"], j["function"], str(j["pid"]), f"{j['cpu_percent']:.0f}",
             f"{j['cpu_seconds']:.1f}s", _size(j["rss_bytes"]), str(j["processes"])]
            for j in data["jobs"]]  # fmt: skip
    print_table(["job", "function", "pid", "cpu %", "cpu time", "memory", "processes"],
                rows or [["(no running jobs)", "", "", "", "", "", ""]])  # fmt: skip
