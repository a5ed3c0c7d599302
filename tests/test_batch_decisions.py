"""The operator's pure batch decision (operator/kinetic_operator/batch_decisions.py):
which items to create, which to cancel, and the KineticBatch's counts."""

from __future__ import annotations

from kinetic_operator.batch_decisions import Item, decide_batch, status_changes

SPEC = {"total": 5, "maxConcurrent": 2}


def test_the_first_items_fill_the_slots():
    step = decide_batch(SPEC, {}, {})
    assert step.create == (0, 1) and step.cancel == ()
    assert step.status["created"] == 2 and step.status["pending"] == 5
    assert step.status["phase"] == "RUNNING"


def test_a_slot_frees_when_an_item_ends_and_never_more_than_the_limit():
    items = {0: Item("SUCCEEDED"), 1: Item("RUNNING")}
    step = decide_batch(SPEC, {"created": 2}, items)
    assert step.create == (2,)
    # An item just created and not yet seen by the watch holds its slot.
    step = decide_batch(SPEC, {"created": 3}, items, frozenset({2}))
    assert step.create == ()


def test_an_item_cleaned_up_below_created_is_never_created_again():
    step = decide_batch(SPEC, {"created": 5}, {4: Item("SUCCEEDED")})
    assert step.create == () and step.status["phase"] == "SUCCEEDED"


def test_an_item_cancelled_before_its_turn_does_not_skip_the_items_below_it():
    # Item 4 was made by the client, already cancelled (its handle's cancel()); 1 to 3 wait.
    items = {0: Item("SUCCEEDED"), 4: Item("CANCELLED", cancel=True)}
    step = decide_batch(SPEC, {"created": 1}, items)
    assert step.create == (1, 2) and step.status["created"] == 3
    step = decide_batch(SPEC, {"created": 4}, {**items, 1: Item("SUCCEEDED"),
                        2: Item("SUCCEEDED"), 3: Item("SUCCEEDED")})  # fmt: skip
    assert step.create == (4,)  # its turn: the create finds it (409), nothing runs
    assert step.status["cancelled"] == 1


def test_fail_fast_stops_creating_and_may_cancel_the_running():
    items = {0: Item("FAILED"), 1: Item("RUNNING")}
    step = decide_batch({**SPEC, "failFast": True}, {"created": 2}, items)
    assert step.create == () and step.cancel == ()
    assert step.status["stopped"] == "BatchStopped" and step.status["notStarted"] == 3
    step = decide_batch({**SPEC, "failFast": True, "cancelRunningOnFail": True},
                        {"created": 2}, items)  # fmt: skip
    assert step.cancel == (1,)
    ended = {0: Item("FAILED"), 1: Item("CANCELLED", cancel=True)}
    step = decide_batch({**SPEC, "failFast": True}, {"created": 2}, ended)
    assert step.status["phase"] == "FAILED"


def test_cancel_cancels_each_unfinished_item_once():
    items = {0: Item("RUNNING"), 1: Item("PENDING", cancel=True)}
    step = decide_batch({**SPEC, "cancel": True}, {"created": 2}, items)
    assert step.create == () and step.cancel == (0,)
    ended = {0: Item("CANCELLED", True), 1: Item("CANCELLED", True)}
    step = decide_batch({**SPEC, "cancel": True}, {"created": 2}, ended)
    assert step.status["phase"] == "CANCELLED" and step.status["notStarted"] == 3


def test_only_changed_counts_are_written():
    assert status_changes({"created": 2, "running": 1}, {"created": 2, "running": 2}) == {
        "running": 2
    }


def test_items_queued_again_take_free_slots_first_and_never_exceed_the_limit():
    # retry_failed() queued 1 and 3 again; 0 runs; 4 was never created (fail_fast stopped it).
    spec = {**SPEC, "failFast": True}
    items = {0: Item("RUNNING"), 1: Item("FAILED", queued=True), 2: Item("SUCCEEDED"),
             3: Item("FAILED", queued=True)}  # fmt: skip
    step = decide_batch(spec, {"created": 4, "phase": "FAILED", "stopped": "BatchStopped"}, items)
    assert step.release == (1,) and step.create == () and step.unqueue == ()
    assert step.status["stopped"] is None and step.status["phase"] == "RUNNING"
    assert step.status["pending"] == 3 and step.status["failed"] == 0  # 1, 3 and 4 wait
    # Item 1 started again (the watch has not shown it yet): it holds its slot.
    step = decide_batch(spec, {"created": 4}, {**items, 0: Item("SUCCEEDED")}, frozenset(),
                        frozenset({1}))  # fmt: skip
    assert step.release == (3,) and step.create == ()
    done = {i: Item("SUCCEEDED") for i in range(4)}
    step = decide_batch(spec, {"created": 4}, done)
    assert step.create == (4,)


def test_a_stopped_batch_leaves_its_queued_items_failed():
    items = {0: Item("FAILED"), 1: Item("FAILED", queued=True)}
    step = decide_batch({**SPEC, "failFast": True}, {"created": 2}, items)
    assert step.release == () and step.unqueue == (1,)
    assert step.status["failed"] == 2 and step.status["stopped"] == "BatchStopped"
    assert step.status["phase"] == "FAILED"
