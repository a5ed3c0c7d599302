"""The live views on Kubernetes (kinetic.client.job_index.JobView): the cluster's own
listing of KineticJobs, paged by the same queries as a store's index, from an index in
memory rebuilt at each refresh."""

from __future__ import annotations

import jobfns
import pytest

import kinetic
from kinetic import JobStatus
from kinetic.client.job_index import JobFilter, JobView

pytestmark = pytest.mark.k8s


def test_the_view_pages_the_clusters_listing(kube):
    done = kinetic.run()(jobfns.add).run_async(1, 1)
    failed = kinetic.run(name="broken-one")(jobfns.fail_with).run_async("no")
    done.wait(120)
    failed.wait(120)
    view = JobView()  # the configured backend: kubernetes, its namespace
    assert view.own_listing
    view.refresh()
    page = view.page()
    # Newest first; a KineticJob may be stamped to the second, so either order on a tie.
    assert page.total == 2 and {h.job_id for h, _ in page.rows} == {failed.job_id, done.job_id}
    assert page.counts == {"SUCCEEDED": 1, "FAILED": 1}
    (only,) = view.page(JobFilter(status=JobStatus.SUCCEEDED)).rows
    assert only[0].job_id == done.job_id and only[0].listed_state == only[1]
    assert [h.job_id for h, _ in view.page(JobFilter(name="BROKEN")).rows] == [failed.job_id]
    handle, state = view.find(done.job_id)
    assert state.status == JobStatus.SUCCEEDED and handle.result(cleanup=False) == 2
    view.refresh()  # a new index in memory; the pages read the same
    assert view.page(sort="status").total == 2
