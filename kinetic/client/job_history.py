"""History and statistics of ended jobs: what ``kinetic jobs history`` shows.

Where it sits: it reads the store's index (``kinetic.backends.store_listing``, brought up
to date with the store first), filtered in SQL, and summarizes the jobs found: counts by
status, success rate, p50/p95 duration, overall and by function. SQLite counts and sorts;
the figures are a pure function of its answers (``summarize``), tested apart from any
store.

Success rate: succeeded / (succeeded + failed). A cancelled job was stopped by someone,
not failed by its code or the platform, so it counts in neither; the counts show it.
Durations run from a job's start to its end (the last attempt's start when retried).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kinetic.backends.store_listing import store_index
from kinetic.model.errors import SpecError
from kinetic.model.status import JobStatus, utcnow
from kinetic.spec import settings
from kinetic.store.index_queries import ended
from kinetic.store.listing_index import Finished

ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
_AGE = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Stats:
    """A group of ended jobs (all of them, or one function's) in figures."""

    count: int
    by_status: dict[str, int]
    success_rate: float | None  # None: no job succeeded or failed
    p50: float | None  # seconds; None: no job with both a start and an end
    p95: float | None

    def to_dict(self) -> dict:
        return {"count": self.count, "by_status": self.by_status,
                "success_rate": self.success_rate, "p50_seconds": self.p50,
                "p95_seconds": self.p95}  # fmt: skip


@dataclass(frozen=True)
class History:
    jobs: list[Finished]  # newest end first; at most the limit asked for
    total: Stats
    by_function: dict[str, Stats] = field(default_factory=dict)  # most jobs first
    since: datetime | None = None


def history(
    *,
    store: str | None = None,
    since: str | timedelta | datetime | None = None,
    status: JobStatus | str | None = None,
    name: str | None = None,
    function: str | None = None,
    limit: int | None = None,
) -> History:
    """Ended jobs in ``store`` (default: the configured one) and their statistics.

    ``since``: "7d", "12h", "1w2d", a timedelta, or a datetime (jobs ended then or later);
    ``status`` one of SUCCEEDED, FAILED, CANCELLED; ``name`` and ``function``: a part of
    the job's name or function (``train`` matches ``model.train``). ``limit`` bounds the
    jobs listed, never the statistics, which cover every job matched.
    """
    start = parse_since(since)
    wanted = _ended_status(status)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise SpecError("limit", limit, "a whole number from 0, or None for every job")
    uri = settings.resolve("store", store).value
    where = ended(
        since=start.timestamp() if start else None,
        status=wanted.value if wanted else None,
        name=name,
        function=function,
    )
    with store_index(uri) as index:
        jobs = index.finished(where, limit)
        counts, durations = index.counts(where), index.durations(where)
    total, by_function = summarize(counts, durations)
    return History(jobs, total, by_function, start)


def summarize(
    counts: dict[tuple[str, str], int], durations: dict[str, list[float]]
) -> tuple[Stats, dict[str, Stats]]:
    """The figures, overall and by function (most jobs first), from the jobs' counts by
    (function, status) and each function's sorted durations (pure)."""
    by_status: dict[str, dict[str, int]] = {}
    for (function, status), n in counts.items():
        by_status.setdefault(function, {})[status] = n
    by_function = {f: _stats(statuses, durations.get(f, [])) for f, statuses in by_status.items()}
    ordered = dict(sorted(by_function.items(), key=lambda item: (-item[1].count, item[0])))
    overall: dict[str, int] = {}
    for (_, status), n in counts.items():
        overall[status] = overall.get(status, 0) + n
    every = sorted(d for values in durations.values() for d in values)
    return _stats(overall, every), ordered


def _stats(counts: dict[str, int], ordered: list[float]) -> Stats:
    by_status = {s.value: counts.get(s.value, 0) for s in ENDED}
    decided = by_status["SUCCEEDED"] + by_status["FAILED"]
    rate = by_status["SUCCEEDED"] / decided if decided else None
    p50, p95 = percentile(ordered, 0.5), percentile(ordered, 0.95)
    return Stats(sum(counts.values()), by_status, rate, p50, p95)


def percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted values (an actual job's duration)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def parse_since(value: str | timedelta | datetime | None) -> datetime | None:
    """The earliest end time wanted, from an age ("7d", "1d12h", "30m") or a time."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, timedelta):
        return utcnow() - value
    text = value.strip() if isinstance(value, str) else ""
    parts = _AGE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SpecError("since", value, "an age such as 7d, 12h, 30m, 2w or 1d12h")
    return utcnow() - timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def _ended_status(status: JobStatus | str | None) -> JobStatus | None:
    if status is None:
        return None
    text = status.value if isinstance(status, JobStatus) else str(status).strip().upper()
    if text not in {s.value for s in ENDED}:
        raise SpecError("status", status, "one of SUCCEEDED, FAILED, CANCELLED")
    return JobStatus(text)
