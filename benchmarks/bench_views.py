"""The live views with 10,000 jobs in the store, printed as JSON.

    python benchmarks/bench_views.py [--jobs 10000] [--samples 20] [--no-browser]

A temporary file:// store gets ``--jobs`` finished local jobs (handle.json and state.json
written directly, as the runner would leave them: a store's history). Reported:

* baseline: ``kinetic.list_jobs()`` over them (what ``kinetic jobs list`` costs);
* the JobView behind both views: its first refresh (every record read) and a later one;
* ``kinetic top``: a frame (refresh + page + rendering 50 rows) at 150x60;
* ``kinetic dashboard``: GET /api/jobs (first page of 50; filtered by name; sorted by
  duration) against a running server on loopback, and the time from the server's start
  to its first page;
* the browser (Debian's chromium, when installed): from navigation to the list's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # also when imported from elsewhere

from timing_support import timed  # noqa: E402


def fill_store(uri: str, count: int) -> None:
    from kinetic.model.job_record import JobRecord
    from kinetic.model.status import JobState, JobStatus, format_time, utcnow
    from kinetic.store import layout, open_store

    store = open_store(uri)
    start = utcnow() - timedelta(days=10)
    statuses = [JobStatus.SUCCEEDED] * 8 + [JobStatus.FAILED, JobStatus.CANCELLED]
    for i in range(count):
        created = start + timedelta(seconds=60 * i)
        job_id = f"bench-{i:06d}"
        record = JobRecord(job_id, "local", uri, f"bench.train_{i % 7}", format_time(created),
                           name=f"train-{i % 97}")  # fmt: skip
        status = statuses[i % len(statuses)]
        state = JobState(status, reason=None if status == JobStatus.SUCCEEDED else "UserError",
                         created=created, started=created + timedelta(seconds=1),
                         finished=created + timedelta(seconds=5 + i % 50), attempts=1,
                         progress={"fraction": 1.0, "message": "done"})  # fmt: skip
        store.write_bytes(layout.handle_key(job_id), record.to_json().encode())
        store.write_bytes(layout.state_key(job_id), json.dumps(state.to_dict()).encode())


def bench_index_and_top(uri: str, samples: int) -> dict:
    import kinetic
    from kinetic.cli.top_commands import frame
    from kinetic.cli.top_frame import ViewState
    from kinetic.client.job_index import JobView

    out: dict = {"list_jobs_baseline": timed(lambda: kinetic.list_jobs(store=uri), 3)}
    index = JobView(store=uri)
    t0 = time.perf_counter()
    index.refresh()
    out["index_first_refresh_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["index_refresh"] = timed(index.refresh, samples)

    from rich.console import Console

    console = Console(file=io.StringIO(), width=150, height=60, force_terminal=True)

    def one_frame() -> None:
        index.refresh()
        renderable, _ = frame(index, ViewState(), uri, 56)
        console.print(renderable)

    out["top_frame"] = timed(one_frame, samples)
    return out


def serve(uri: str) -> tuple[str, float]:
    """A dashboard on a free loopback port in a thread; its URL and when it started."""
    from aiohttp import web

    from kinetic.cli.dashboard_api import make_app
    from kinetic.cli.dashboard_guard import Guard
    from kinetic.client.job_index import JobView

    ready: dict = {}

    def run() -> None:
        async def main() -> None:
            runner = web.AppRunner(make_app(JobView(store=uri), Guard("127.0.0.1", 0, None)))
            ready["t0"] = time.perf_counter()
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ready["port"] = runner.addresses[0][1]
            await asyncio.Event().wait()

        asyncio.run(main())

    threading.Thread(target=run, daemon=True).start()
    while "port" not in ready:
        time.sleep(0.01)
    return f"http://127.0.0.1:{ready['port']}/", ready["t0"]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def bench_dashboard(uri: str, samples: int) -> dict:
    url, started = serve(uri)
    while not get(url + "api/jobs?limit=50")["jobs"]:  # the first refresh is in
        time.sleep(0.005)
    out: dict = {"start_to_first_page_ms": round((time.perf_counter() - started) * 1000, 1)}
    out["first_page"] = timed(lambda: get(url + "api/jobs?limit=50"), samples)
    out["filtered_by_name"] = timed(lambda: get(url + "api/jobs?limit=50&name=train-42"), samples)
    out["sorted_by_duration"] = timed(
        lambda: get(url + "api/jobs?limit=50&sort=duration&order=desc"), samples
    )
    out["last_page"] = timed(lambda: get(url + "api/jobs?limit=50&offset=9950"), samples)
    out["url"] = url
    return out


def bench_browser(url: str, samples: int) -> dict | None:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:

        def load() -> None:
            driver.get("about:blank")
            driver.get(url)
            deadline = time.monotonic() + 60
            while not driver.find_elements("css selector", "tr[data-job]"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no rows after 60 s: {driver.page_source[:500]}")
                time.sleep(0.005)

        load()  # warm: the browser's own start
        return timed(load, min(samples, 10))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-views-") as tmp:
        os.environ["KINETIC_HOME"] = str(Path(tmp, "home"))
        os.environ["KINETIC_CONFIG"] = str(Path(tmp, "none.toml"))
        os.environ["KINETIC_BACKEND"] = "local"
        uri = Path(tmp, "store").as_uri()
        os.environ["KINETIC_STORE"] = uri
        fill_store(uri, args.jobs)
        results: dict = {"jobs": args.jobs, "cpus": os.cpu_count()}
        results.update(bench_index_and_top(uri, args.samples))
        print(json.dumps(results), file=sys.stderr, flush=True)  # so far, in case
        results["dashboard"] = bench_dashboard(uri, args.samples)
        print(json.dumps(results), file=sys.stderr, flush=True)
        if not args.no_browser:
            results["browser_list_load"] = bench_browser(
                results["dashboard"].pop("url"), args.samples
            )
        results["dashboard"].pop("url", None)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
