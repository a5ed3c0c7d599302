"""The live views' pages (kinetic.client.job_index.JobView) over the one job index:
filters, sorts and offsets answered by SQLite match the same jobs sorted in Python; the
views, list_jobs() and history read the same index file; a job removed from the store
leaves the pages at the next refresh."""

from __future__ import annotations

import pytest
from history_records import write_store

import kinetic
from kinetic.client.job_history import history
from kinetic.client.job_index import JobFilter, JobView
from kinetic.model.errors import SpecError
from kinetic.model.status import JobStatus
from kinetic.store import layout, open_store
from kinetic.store.listing_index import index_path

JOBS = 60


@pytest.fixture
def generated(store_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIC_HOME", str(tmp_path / "home"))
    return write_store(store_uri, JOBS)


def _ids(page) -> list[str]:
    return [handle.job_id for handle, _ in page.rows]


def test_pages_filter_and_sort_like_python(store_uri, generated):
    view = JobView(store=store_uri, backend="local")
    assert view.page().rows == ()  # never refreshed: nothing yet, no error
    view.refresh()
    rows = generated.rows

    first = view.page(limit=10)
    assert first.total == JOBS and _ids(first) == generated.newest_ids[:10]
    assert first.counts == dict(generated.by_status)
    last = view.page(offset=55, limit=10)
    assert _ids(last) == generated.newest_ids[55:]
    assert view.page(offset=10_000, limit=10).offset == JOBS - 1  # clamped to the last job

    failed = view.page(JobFilter(status=JobStatus.FAILED), limit=JOBS)
    assert sorted(_ids(failed)) == sorted(r["job_id"] for r in rows if r["status"] == "FAILED")
    assert all(state.status == JobStatus.FAILED for _, state in failed.rows)

    named = view.page(JobFilter(name="RUN-1"), limit=JOBS)  # a part of the name, any case
    wanted = {r["job_id"] for r in rows if r["name"] and "run-1" in r["name"]}
    assert set(_ids(named)) == wanted and named.total == len(wanted)
    by_id = view.page(JobFilter(name=rows[7]["job_id"]), limit=JOBS)
    assert _ids(by_id) == [rows[7]["job_id"]]
    fit = view.page(JobFilter(function="Train.F"), limit=JOBS)
    assert {h.function for h, _ in fit.rows} == {"train.fit"}

    chosen = frozenset(generated.newest_ids[5:8])  # a workflow's jobs
    assert set(_ids(view.page(JobFilter(job_ids=chosen)))) == chosen
    assert view.page(JobFilter(job_ids=frozenset())).total == 0
    assert view.page(JobFilter(batch="no-such-batch")).total == 0 and view.batch_counts() == {}

    longest = view.page(sort="duration", limit=5)
    durations = sorted((r["duration"] for r in rows), reverse=True)[:5]
    assert [round(s.duration, 3) for _, s in longest.rows] == pytest.approx(durations, abs=1.5)
    by_function = view.page(sort="function", descending=False, limit=JOBS).rows
    assert [h.function for h, _ in by_function] == sorted(r["function"] for r in rows)
    with pytest.raises(SpecError, match="sort"):
        view.page(sort="colour")

    handle, state = view.find(rows[3]["job_id"])
    assert handle.listed_state == state and state.status.value == rows[3]["status"]
    assert handle.spec["store"] == open_store(store_uri).uri  # the deferred fields decode
    assert view.find("job-nowhere") is None


def test_views_list_jobs_and_history_share_one_index(store_uri, generated, tmp_path):
    view = JobView(store=store_uri, backend="local")
    view.refresh()
    home = tmp_path / "home" / "index"
    files = sorted(p.name for p in home.rglob("*.sqlite"))
    assert files == [index_path(open_store(store_uri).uri).name]
    assert len(kinetic.list_jobs(store=store_uri)) == JOBS
    assert history(store=store_uri, limit=0).total.count == JOBS
    assert sorted(p.name for p in home.rglob("*.sqlite")) == files

    gone = generated.newest_ids[0]
    open_store(store_uri).delete_prefix(layout.job_prefix(gone))
    assert view.find(gone) is not None  # the last refresh's
    view.refresh()
    assert view.find(gone) is None and view.page().total == JOBS - 1
    assert gone not in [h.job_id for h in kinetic.list_jobs(store=store_uri)]


def test_without_a_home_the_index_is_kept_in_memory(store_uri, generated, tmp_path, monkeypatch):
    home = tmp_path / "read-only-home"
    home.write_text("not a directory")  # the index cannot be kept there
    monkeypatch.setenv("KINETIC_HOME", str(home))
    view = JobView(store=store_uri, backend="local")
    view.refresh()
    view.refresh()  # brought up to date in memory, not read whole again
    assert view.page(limit=5).total == JOBS
    assert len(kinetic.list_jobs(store=store_uri)) == JOBS
