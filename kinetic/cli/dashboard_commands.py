"""``kinetic dashboard``: the web dashboard (kinetic.cli.dashboard_api) on this machine.

Bound to 127.0.0.1 unless ``--host`` says otherwise; any other address requires a token,
generated unless given (``--token`` or KINETIC_DASHBOARD_TOKEN), and printed in the URL.
"""

from __future__ import annotations

import contextlib
import secrets

import click

from kinetic.cli.app import main, store_option

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind; any but a loopback one requires the token.")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port (0: any free one).")  # fmt: skip
@click.option("--token", envvar="KINETIC_DASHBOARD_TOKEN", default=None,
              help="The token requests must carry (default: off loopback, a new one).")  # fmt: skip
@click.option("--namespace", "-n", help="Kubernetes: this namespace (default: configured).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Kubernetes: every namespace.")
@store_option
def dashboard(host, port, token, namespace, all_namespaces, store) -> None:
    """A web dashboard of the jobs: list, details, live logs, cancel and retry."""
    try:
        from aiohttp import web
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        raise click.ClickException("the dashboard needs aiohttp (pip install aiohttp)") from None
    from kinetic.cli.dashboard_api import make_app
    from kinetic.cli.dashboard_guard import Guard, is_loopback
    from kinetic.client.job_index import JobView

    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    index = JobView(store=store, namespace=namespace, all_namespaces=all_namespaces)

    def announce() -> None:
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
        click.echo(f"kinetic dashboard: {url}", err=True)

    guard = Guard(host, port, token)
    app = make_app(index, guard)
    runner = web.AppRunner(app)

    import asyncio

    async def serve() -> None:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        announce()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
