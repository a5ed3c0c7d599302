"""Many callers of result() on one job, in one process: every one gets the value.

The first to collect also cleans up; before, the others found the job deleted under them
(JobNotFoundError, or a bare JobFailedError for a job that had succeeded).
"""

from __future__ import annotations

import threading

import jobfns

import kinetic
from kinetic import JobStatus


def collect_in_threads(handles, count=5):
    results, errors = [], []

    def worker(handle):
        try:
            results.append(handle.result(timeout=60))
        except BaseException as exc:  # recorded: the assertion shows them all
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(handles[i % len(handles)],))
               for i in range(count)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


def test_five_threads_one_handle_all_get_the_value(store_uri):
    job = kinetic.run()(jobfns.sleeper).run_async(0.5)
    results, errors = collect_in_threads([job])
    assert errors == [] and results == [0.5] * 5
    assert job.status() == JobStatus.NOT_FOUND  # collected once, then cleaned up


def test_separate_handles_of_one_job_in_one_process(store_uri):
    job = kinetic.run()(jobfns.sleeper).run_async(0.5)
    handles = [job, kinetic.attach(job.job_id), kinetic.attach(job.job_id)]
    results, errors = collect_in_threads(handles, count=6)
    assert errors == [] and results == [0.5] * 6
    assert all(h.result() == 0.5 for h in handles)  # each keeps the value
