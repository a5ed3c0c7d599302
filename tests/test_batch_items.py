"""An item of a kubernetes batch whose KineticJob alone does not say its state
(kinetic/k8s/batch_items.py): not created yet, or queued again by retry_failed(); and the
status that starts a queued item's next attempt (operator/kinetic_operator/item_restart.py)."""

from __future__ import annotations

from kinetic_operator.item_restart import restart_patch

from kinetic.backends.kubernetes import state_from_cr
from kinetic.k8s.batch_items import counted_attempts, queued_again, unborn_state
from kinetic.k8s.names import LABEL_BATCH_REQUEUED
from kinetic.model.reasons import Reason
from kinetic.model.status import JobStatus

CREATED = "2026-01-01T00:00:00Z"


def failed_item(attempts: int, mark: str | None = None) -> dict:
    labels = {LABEL_BATCH_REQUEUED: mark} if mark else {}
    return {
        "metadata": {"name": "b-1", "labels": labels, "creationTimestamp": CREATED},
        "spec": {},
        "status": {"phase": "FAILED", "reason": "UserError", "message": "boom",
                   "attempts": attempts, "startTime": CREATED, "completionTime": CREATED,
                   "jobName": f"b-1-a{attempts}", "previousAttempts": [
                       {"attempt": a, "reason": "UserError"} for a in range(1, attempts)]},
    }  # fmt: skip


def test_an_item_not_created_yet_waits_for_a_slot_unless_the_batch_stopped():
    batch = {"spec": {"total": 5}, "status": {"created": 2}}
    state = unborn_state(batch, 3)
    assert state.status == JobStatus.PENDING and state.reason == Reason.BATCH_QUEUED
    assert "waiting for a slot in its batch" in (state.message or "")
    stopped = unborn_state({**batch, "status": {"created": 2, "stopped": "BatchStopped"}}, 3)
    assert stopped.status == JobStatus.CANCELLED and stopped.reason == Reason.BATCH_STOPPED
    assert unborn_state({**batch, "spec": {"cancel": True}}, 4).status == JobStatus.CANCELLED
    assert unborn_state(batch, 1).status == JobStatus.NOT_FOUND  # created, then deleted
    assert unborn_state(None, 3).status == JobStatus.NOT_FOUND


def test_a_failed_item_labelled_with_its_attempt_is_queued_again():
    assert not queued_again(failed_item(2))
    assert queued_again(failed_item(2, "2"))
    assert not queued_again(failed_item(3, "2"))  # attempt 3 came and failed: final
    state = state_from_cr(failed_item(2, "2"))
    assert state.status == JobStatus.PENDING and state.reason == Reason.BATCH_QUEUED


def test_the_next_attempt_keeps_the_failed_one_and_gets_a_fresh_budget():
    kj = failed_item(2, "2")
    patch = restart_patch(kj)
    assert patch["phase"] == "PENDING" and patch["attempts"] == 3 and patch["jobName"] is None
    assert [r["attempt"] for r in patch["previousAttempts"]] == [1, 2]
    assert patch["previousAttempts"][-1]["reason"] == "UserError"
    after = {**kj, "status": {**kj["status"], **patch}}
    assert not queued_again(after)
    assert counted_attempts(after, patch["previousAttempts"]) == []  # 1 and 2 no longer count
