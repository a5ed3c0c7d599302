"""History, statistics and the store's index (kinetic.client.job_history,
kinetic.store.listing_index): 100,000 generated records, older-format ones among them, and
real jobs whose state changes under the index."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import timedelta

import jobfns
import pytest
from helpers import wait_log
from history_records import FUNCTIONS, NOW, write_store

import kinetic
from kinetic import JobStatus
from kinetic.client.job_history import history, percentile, summarize
from kinetic.store import layout, open_store
from kinetic.store.listing_index import index_path

BIG = 100_000
# Writing 100,000 jobs' records and building the index from them take minutes on a loaded
# machine (the first test pays for both); the default 300 s would cut them short.
SLOW = pytest.mark.timeout(1800)


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic.cli", *args],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """100,000 ended jobs (every fifth in an older Kinetic's format), and a Kinetic home
    whose index of them the module's tests share."""
    root = tmp_path_factory.mktemp("big")
    uri = (root / "store").as_uri()
    return uri, root / "home", write_store(uri, BIG)


@pytest.fixture
def big_env(big, monkeypatch):
    uri, home, generated = big
    monkeypatch.setenv("KINETIC_STORE", uri)
    monkeypatch.setenv("KINETIC_HOME", str(home))
    return generated


@SLOW
def test_history_statistics_over_100k_jobs(big_env):
    gen = big_env
    found = history(limit=10)
    total = found.total
    assert total.count == BIG and gen.old_format == BIG // 5
    assert total.by_status == dict(gen.by_status)
    decided = gen.by_status["SUCCEEDED"] + gen.by_status["FAILED"]
    assert total.success_rate == pytest.approx(gen.by_status["SUCCEEDED"] / decided)
    every = [d for values in gen.durations.values() for d in values]
    assert total.p50 == pytest.approx(nearest_rank(every, 0.5), abs=1e-3)
    assert total.p95 == pytest.approx(nearest_rank(every, 0.95), abs=1e-3)
    assert set(found.by_function) == set(FUNCTIONS)
    for function, counts in gen.by_function.items():
        assert found.by_function[function].by_status == {
            s: counts.get(s, 0) for s in ("SUCCEEDED", "FAILED", "CANCELLED")
        }
    # The ten listed: the latest ends.
    latest = sorted(gen.rows, key=lambda r: (r["finished"], r["job_id"]), reverse=True)[:10]
    assert [r.job_id for r in found.jobs] == [r["job_id"] for r in latest]

    # Filters, each checked against the generated jobs.
    failed = history(status="failed", limit=0)
    assert failed.total.count == gen.by_status["FAILED"] and failed.jobs == []
    assert failed.total.success_rate == 0.0
    fit = history(function="fit")
    assert fit.total.count == sum(r["function"] == "train.fit" for r in gen.rows)
    named = history(name="run-7")
    assert named.total.count == sum(r["name"] == "run-7" for r in gen.rows)
    cutoff = NOW - timedelta(days=3)
    recent = history(since=cutoff)
    assert recent.total.count == sum(r["finished"] >= cutoff for r in gen.rows)
    with pytest.raises(kinetic.SpecError, match="since"):
        history(since="3 days")
    with pytest.raises(kinetic.SpecError, match="SUCCEEDED, FAILED, CANCELLED"):
        history(status="RUNNING")


@SLOW
def test_list_jobs_over_100k_jobs(big_env):
    gen = big_env
    handles = kinetic.list_jobs()
    assert len(handles) == BIG
    assert [h.job_id for h in handles[:1000]] == gen.newest_ids[:1000]
    assert {h.job_id for h in handles} == set(gen.newest_ids)
    assert [h.job_id for h in kinetic.list_jobs(limit=5)] == gen.newest_ids[:5]
    failed = kinetic.list_jobs(status="FAILED", limit=3)
    assert [h.listed_state.status for h in failed] == [JobStatus.FAILED] * 3
    # An older Kinetic's records read as today's: times with offsets, fewer spec fields.
    old = next(h for h in handles if h.job_id.startswith("job-0000000-"))
    assert old.client == {} and old.retry_of is None and old.spec["grace_period"] == 30.0
    state = old.listed_state
    assert state.previous_attempts == [] and state.finished.tzinfo is not None
    assert isinstance(old, kinetic.JobHandle) and old.status() == state.status


@SLOW
def test_cli_history_and_list_over_100k_jobs(big_env, python_env):
    out = cli("jobs", "history", "-o", "json", "--limit", "3", env=python_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["summary"]["count"] == BIG and len(data["jobs"]) == 3
    assert set(data["by_function"]) == set(FUNCTIONS)
    text = cli("jobs", "history", "--function", "fit", "--status", "FAILED", env=python_env)
    fit_failed = sum(r["function"] == "train.fit" and r["status"] == "FAILED" for r in big_env.rows)
    assert f"{fit_failed:,} jobs (20 listed): 0 succeeded, {fit_failed:,} failed" in text.stdout
    assert "success rate 0.0%" in text.stdout
    rows = cli("jobs", "list", "--limit", "2", env=python_env).stdout.splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == big_env.newest_ids[:2]


def test_summary_is_a_pure_function_of_counts_and_durations():
    counts = {("f", "SUCCEEDED"): 2, ("f", "FAILED"): 1, ("g", "CANCELLED"): 1}
    total, by_function = summarize(counts, {"f": [1.0, 3.0, 4.0], "g": [2.0]})
    assert total.count == 4
    assert total.by_status == {"SUCCEEDED": 2, "FAILED": 1, "CANCELLED": 1}
    assert total.success_rate == pytest.approx(2 / 3)  # the cancelled one counts in neither
    assert (total.p50, total.p95) == (2.0, 4.0)
    assert list(by_function) == ["f", "g"]  # most jobs first
    assert by_function["g"].success_rate is None and by_function["g"].p50 == 2.0
    assert summarize({}, {})[0].p50 is None and percentile([5.0], 0.95) == 5.0


def test_the_index_follows_the_store(store_uri, tmp_path):
    """New jobs appear, running ones are asked again until they end, deleted ones go, and a
    missing or damaged index is rebuilt from the store: on both stores."""
    write_store(store_uri, 40, seed=3)
    assert len(kinetic.list_jobs()) == 40
    go = tmp_path / "go"
    running = kinetic.run()(jobfns.print_then_wait_for_file).run_async(str(go), 300)
    wait_log(running, "started", timeout=60)
    listed = {h.job_id: h.listed_state for h in kinetic.list_jobs()}
    assert len(listed) == 41 and listed[running.job_id].status == JobStatus.RUNNING
    assert history().total.count == 40  # running: not in the history yet
    go.touch()
    running.wait(60)
    listed = {h.job_id: h.listed_state for h in kinetic.list_jobs()}
    assert listed[running.job_id].status == JobStatus.SUCCEEDED
    assert history(function="print_then_wait").total.by_status["SUCCEEDED"] == 1

    gone = kinetic.list_jobs(limit=2)
    for handle in gone:
        handle.cleanup()
    remaining = {h.job_id for h in kinetic.list_jobs()}
    assert len(remaining) == 39 and not remaining & {h.job_id for h in gone}
    assert history().total.count == 39

    path = index_path(open_store(store_uri).uri)
    assert path.exists()
    path.unlink()
    assert {h.job_id for h in kinetic.list_jobs()} == remaining  # rebuilt from the store
    path.write_bytes(b"not a database" * 100)  # damaged: the store is read instead
    assert {h.job_id for h in kinetic.list_jobs()} == remaining
    assert history().total.count == 39


def test_a_job_deleted_from_the_store_leaves_the_index(store_uri):
    write_store(store_uri, 5, seed=5)
    first = kinetic.list_jobs()
    open_store(store_uri).delete_prefix(layout.job_prefix(first[0].job_id))
    assert [h.job_id for h in kinetic.list_jobs()] == [h.job_id for h in first[1:]]


def test_states_built_by_backends_are_indexed():
    """A backend's own JobState carries Reason members (str subclasses), which marshal
    refuses: the row is kept all the same, with plain strings."""
    from kinetic.model.job_record import JobRecord
    from kinetic.model.reasons import Reason
    from kinetic.model.status import JobState
    from kinetic.store.index_queries import kept
    from kinetic.store.listing_index import JobIndex

    index = JobIndex.open("file:///nowhere", in_memory=True)
    record = JobRecord("a-1", "slurm", "file:///nowhere", "m.f", "2026-12-01T10:00:00Z")
    state = JobState(JobStatus.PENDING, Reason.QUEUED, "pending in SLURM (Resources)",
                     previous_attempts=[{"attempt": 1, "reason": Reason.LOST}])  # fmt: skip
    index.put([(record, state)])
    ((head, stored), _body) = index.rows(kept("PENDING"))[0]
    assert head["job_id"] == "a-1" and stored["reason"] == "Queued"
    assert type(stored["reason"]) is str and stored["previous_attempts"][0]["reason"] == "Lost"
