"""`kinetic dashboard` (issue 18) driven in headless Chromium (Debian's chromium and
chromium-driver, through Selenium): the list shows a running job, its page shows a log line
printed after it was opened, cancel from the page ends it CANCELLED, retry (when the version
has it) creates a linked job. And the API's guards: the token off loopback, cross-site
POSTs refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import jobfns
import pytest
from helpers import unavailable, wait_for, wait_log, wait_status

import kinetic
from kinetic.model.status import JobStatus

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def start_dashboard(python_env, *args: str):
    """A `kinetic dashboard` process on a free port, and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic.cli", "dashboard", "--port", "0", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=python_env,
    )  # fmt: skip
    found: dict[str, str] = {}

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if m := re.search(r"kinetic dashboard: (\S+)", line):
                found["url"] = m.group(1)

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: "url" in found or proc.poll() is not None, 60, what="the dashboard")
    except AssertionError:
        proc.kill()
        raise
    assert "url" in found, f"the dashboard exited with {proc.returncode}"
    return proc, found["url"]


@pytest.fixture
def dashboard(python_env):
    proc, url = start_dashboard(python_env)
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        unavailable("chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _text(driver, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return driver.find_element("css selector", css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _click(driver, by: str, value: str) -> None:
    """Click an element of a list the page redraws every 2 s: found again if it was
    replaced between being found and clicked."""
    from selenium.common.exceptions import StaleElementReferenceException

    def clicked() -> bool:
        try:
            driver.find_element(by, value).click()
            return True
        except StaleElementReferenceException:
            return False

    wait_for(clicked, 30, what=f"a click on {value}")


def _confirm(driver) -> None:
    wait_for(lambda: _alert(driver), 30, what="the confirmation")
    driver.switch_to.alert.accept()


def _alert(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 - raises when there is none
        return True
    except NoAlertPresentException:
        return False


def test_dashboard_in_a_browser(dashboard, browser, tmp_path):
    job = kinetic.run()(jobfns.lines_then_wait).run_async(
        str(tmp_path / "more"), str(tmp_path / "never"), 0, 300
    )
    other = kinetic.run()(jobfns.fail_with).run_async("broken")
    wait_log(job, "line 19", 60)
    wait_status(other, JobStatus.FAILED, 60)
    try:
        browser.get(dashboard)
        row = f'tr[data-job="{job.job_id}"]'
        wait_for(lambda: "RUNNING" in _text(browser, row), 60, what="the running job listed")
        # The list is redrawn every 2 s: a row being replaced reads "" once, so wait.
        failed_row = f'tr[data-job="{other.job_id}"]'
        wait_for(lambda: "FAILED" in _text(browser, failed_row), 30, what="the failed job listed")
        # Filtered by status in the page: the failed job goes.
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element("id", "status-filter")).select_by_value("RUNNING")
        wait_for(lambda: not _text(browser, f'tr[data-job="{other.job_id}"]'), 30,
                 what="the failed job filtered out")  # fmt: skip
        wait_for(lambda: "RUNNING" in _text(browser, row), 30, what="the running job kept")
        # The job's page: its log so far, then a line printed after the page opened.
        _click(browser, "link text", job.job_id)
        wait_for(lambda: "line 19" in _text(browser, "#log"), 60, what="the log on the page")
        assert "line 39" not in _text(browser, "#log")
        (tmp_path / "more").touch()
        wait_for(lambda: "line 39" in _text(browser, "#log"), 60, what="the new line followed")
        assert _text(browser, "#log").count("line 19") == 1  # followed, not re-sent
        # Cancel from the page.
        browser.find_element("id", "cancel").click()
        _confirm(browser)
        wait_status(job, JobStatus.CANCELLED, 60)
        wait_for(lambda: _text(browser, "#job-status") == "CANCELLED", 60,
                 what="CANCELLED on the page")  # fmt: skip
        retry = browser.find_element("id", "retry")
        if not hasattr(job, "retry"):
            assert not retry.is_displayed()  # no JobHandle.retry in this version
            return
        retry.click()
        _confirm(browser)
        wait_for(lambda: _text(browser, "#retried"), 60, what="the retried job's link")
        new = kinetic.attach(_text(browser, "#retried"))
        assert new.job_id != job.job_id
        browser.find_element("id", "retried").click()
        wait_for(lambda: job.job_id in _text(browser, "#fields"), 60, what="the link back")
        new.cancel(wait=False)
    finally:
        job.cancel(wait=False)


def _request(url: str, method: str = "GET", headers: dict | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:
            return exc.code, {"text": body.decode(errors="replace")}


def test_cross_site_posts_are_refused(dashboard, tmp_path):
    job = kinetic.run()(jobfns.cooperative).run_async(300)
    wait_log(job, "working", 60)
    try:
        cancel = f"{dashboard}api/jobs/{job.job_id}/cancel"
        # A cross-site form (no custom header can be sent by one).
        assert _request(cancel, "POST")[0] == 403
        # A cross-site script that got the header through (its Origin is not ours).
        evil = {"X-Kinetic-Request": "1", "Origin": "http://attacker.example"}
        assert _request(cancel, "POST", evil)[0] == 403
        # Another site's page reaching 127.0.0.1 through DNS rebinding (its Host).
        assert _request(f"{dashboard}api/jobs", headers={"Host": "attacker.example"})[0] == 403
        assert job.status() == JobStatus.RUNNING
        status, body = _request(cancel, "POST", {"X-Kinetic-Request": "1"})  # the page's own
        assert status == 200, body
        wait_status(job, JobStatus.CANCELLED, 60)
    finally:
        job.cancel(wait=False)


def test_a_non_loopback_bind_requires_the_token(python_env):
    proc, url = start_dashboard(python_env, "--host", "0.0.0.0")
    try:
        token = re.search(r"token=([\w-]+)", url)
        assert token, url
        port = re.search(r":(\d+)/", url).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}/api/jobs"
        assert _request(base)[0] == 401
        assert _request(base + "?token=wrong")[0] == 401
        assert _request(base, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert _request(base, headers={"X-Kinetic-Token": token.group(1)})[0] == 200
        assert _request(f"{base}?token={token.group(1)}")[0] == 200
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token.group(1)}")
        assert b"static/app.js" in page.read()
    finally:
        proc.terminate()
        proc.wait(30)


def _events(response):
    """(id, kind, data) of each Server-Sent Event as it arrives."""
    event: dict = {}
    for raw in response:
        line = raw.decode().rstrip("\n")
        if not line:
            if event:
                yield event.get("id"), event.get("event"), json.loads(event.get("data", "{}"))
            event = {}
            continue
        name, _, value = line.partition(": ")
        event[name] = value


def test_log_stream_resumes_after_a_reconnect(dashboard, tmp_path):
    job = kinetic.run()(jobfns.lines_then_wait).run_async(str(tmp_path / "more"), None, 0, 300)
    wait_log(job, "line 19", 60)
    url = f"{dashboard}api/jobs/{job.job_id}/logs"
    seen, last_id = "", None
    with urllib.request.urlopen(url, timeout=60) as response:
        for event_id, kind, data in _events(response):
            assert kind == "log"
            seen += data["text"]
            last_id = event_id
            if "line 19\n" in seen:
                break  # the connection drops here
    assert seen.startswith("line 0\n") and last_id and last_id.startswith("1:")
    (tmp_path / "more").touch()  # more lines while no one is connected
    request = urllib.request.Request(url, headers={"Last-Event-ID": last_id})
    rest, ended = "", None
    with urllib.request.urlopen(request, timeout=120) as response:
        for _event_id, kind, data in _events(response):
            if kind == "end":
                ended = data["status"]
                break
            rest += data["text"]
    assert rest.startswith("line 20\n"), rest[:80]  # nothing lost, nothing repeated
    assert seen + rest == job.logs() and ended == "SUCCEEDED"


def test_job_details_progress_and_outputs(dashboard):
    job = kinetic.run()(jobfns.write_outputs).run_async(True)  # fails, outputs kept
    assert job.wait(120).status == JobStatus.FAILED
    status, details = _request(f"{dashboard}api/jobs/{job.job_id}")
    assert status == 200 and details["status"] == "FAILED" and details["reason"] == "UserError"
    assert sorted(details["outputs"]) == ["model.txt", "sub/metrics.json"]
    assert details["resources"]["peak_memory_bytes"] > 0 and "peak memory" in (
        details["resources_text"])  # fmt: skip
    assert _request(f"{dashboard}api/jobs/{job.job_id}/progress")[1]["status"] == "FAILED"
    with urllib.request.urlopen(f"{dashboard}api/jobs/{job.job_id}/outputs/sub/metrics.json") as r:
        assert r.read() == b'{"loss": 1}'
    assert _request(f"{dashboard}api/jobs/{job.job_id}/outputs/..%2Fhandle.json")[0] == 404
    assert _request(f"{dashboard}api/jobs/{job.job_id}/outputs/nothing.txt")[0] == 404
    assert _request(f"{dashboard}api/jobs/no-such-job-x")[0] == 404
    assert _request(f"{dashboard}api/jobs?sort=colour")[0] == 400
