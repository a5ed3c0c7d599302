"""SLURM's words → Kinetic's state, and a spec → sbatch flags: pure, over real output.

The data files are squeue/scontrol output captured from the test cluster
(scripts/slurm-node.sh): data/README.md says how. PREEMPTED and NODE_FAIL cannot be
produced on one node; their lines are written in the same format.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kinetic.backends.slurm_sbatch import gres_flag, parse_gpu_types, sbatch_flags
from kinetic.backends.slurm_status import (
    SlurmJob,
    combine,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
    slurm_outcome,
)
from kinetic.model.errors import SpecError
from kinetic.model.reasons import Reason
from kinetic.model.status import JobState, JobStatus
from kinetic.spec.job_spec import JobSpec

DATA = Path(__file__).parent / "data"


def squeue_jobs() -> dict[str, SlurmJob]:
    return parse_squeue((DATA / "squeue_finished.txt").read_text())


def test_squeue_parse_decodes_wait_status_exit_codes():
    jobs = squeue_jobs()
    assert jobs["6"].state == "FAILED" and jobs["6"].exit_code == 3 and jobs["6"].signal is None
    assert jobs["7"].state == "OUT_OF_MEMORY" and jobs["7"].signal == 125
    assert jobs["3"].node == "localhost" and jobs["3"].start == "2026-12-01T15:43:58"
    assert jobs["8"].state == "CANCELLED" and jobs["8"].node is None


def test_scontrol_parse_matches_squeue():
    jobs = parse_scontrol((DATA / "scontrol_show_job.txt").read_text())
    assert jobs["4"].state == "COMPLETED" and jobs["6"].exit_code == 3
    assert jobs["7"].state == "OUT_OF_MEMORY" and jobs["7"].signal == 125
    pending = parse_scontrol((DATA / "scontrol_pending.txt").read_text())
    assert pending["13"].state == "RUNNING" and pending["14"].reason == "Resources"
    assert pending["15"].reason == "Dependency"


def test_timeout_captured_from_the_short_partition():
    job = next(iter(parse_scontrol((DATA / "scontrol_timeout.txt").read_text()).values()))
    assert job.state == "TIMEOUT"
    assert slurm_outcome(job, False)[:2] == (JobStatus.FAILED, Reason.DEADLINE)


def test_sacct_parse_takes_the_first_word_of_the_state():
    jobs = parse_sacct(
        "25|CANCELLED by 0|None|localhost|2026-12-01T15:00:00|2026-12-01T15:01:00|0:15\n"
    )
    assert jobs["25"].state == "CANCELLED" and jobs["25"].signal == 15


@pytest.mark.parametrize(
    ("state", "reason", "status", "kinetic_reason"),
    [
        ("PENDING", "Resources", JobStatus.PENDING, Reason.QUEUED),
        ("PENDING", "Priority", JobStatus.PENDING, Reason.QUEUED),
        ("PENDING", "ReqNodeNotAvail", JobStatus.PENDING, Reason.QUEUED),
        ("RUNNING", "None", JobStatus.PENDING, Reason.STARTING),
        ("SUSPENDED", "None", JobStatus.RUNNING, Reason.SUSPENDED),
        ("OUT_OF_MEMORY", "OutOfMemory", JobStatus.FAILED, Reason.OOM),
        ("TIMEOUT", "TimeLimit", JobStatus.FAILED, Reason.DEADLINE),
        ("PREEMPTED", "None", JobStatus.FAILED, Reason.PREEMPTED),
        ("NODE_FAIL", "None", JobStatus.FAILED, Reason.LOST),
        ("CANCELLED", "None", JobStatus.CANCELLED, Reason.CANCELLED),
        ("FAILED", "NonZeroExitCode", JobStatus.FAILED, Reason.LOST),
    ],
)
def test_slurm_outcome(state, reason, status, kinetic_reason):
    got = slurm_outcome(SlurmJob("42", state, reason, "localhost"), True)
    assert got[:2] == (status, kinetic_reason)
    assert "42" in got[2]
    if state == "PENDING":
        assert reason in got[2]  # SLURM's own reason is in the message


def test_cancelled_by_someone_else_says_so():
    message = slurm_outcome(SlurmJob("42", "CANCELLED"), cancel_requested=False)[2]
    assert "not by Kinetic" in message


def test_runner_killed_by_a_signal_without_a_record():
    job = SlurmJob("42", "FAILED", "JobLaunchFailure", "localhost", exit_code=0, signal=9)
    assert slurm_outcome(job, False)[:2] == (JobStatus.FAILED, Reason.KILLED)


def _record(status, reason=None, **kw):
    return JobState(status, reason=reason, attempts=1, node="localhost", **kw)


def test_the_runners_terminal_record_wins():
    record = _record(JobStatus.FAILED, Reason.USER_ERROR, message="ValueError: x")
    job = squeue_jobs()["6"]  # SLURM: FAILED, exit 3
    assert combine(record, job, cancel_requested=False, created=None) == (record, False)


@pytest.mark.parametrize(
    ("slurm_state", "runner_reason", "expected"),
    [
        ("TIMEOUT", Reason.CANCELLED, Reason.DEADLINE),  # SLURM's SIGTERM seen as a cancel
        ("OUT_OF_MEMORY", Reason.KILLED, Reason.OOM),  # the cgroup's SIGKILL
        ("PREEMPTED", Reason.CANCELLED, Reason.PREEMPTED),
    ],
)
def test_slurm_knows_the_cause_of_a_signal(slurm_state, runner_reason, expected):
    status = JobStatus.CANCELLED if runner_reason == Reason.CANCELLED else JobStatus.FAILED
    record = _record(status, runner_reason)
    state, verdict = combine(
        record, SlurmJob("9", slurm_state), cancel_requested=False, created=None
    )
    assert (state.status, state.reason, verdict) == (JobStatus.FAILED, expected, True)
    assert state.node == "localhost"  # the runner's facts are kept


def test_our_cancel_stays_a_cancel():
    record = _record(JobStatus.CANCELLED, Reason.CANCELLED)
    assert (
        combine(record, SlurmJob("9", "TIMEOUT"), cancel_requested=True, created=None)[0] is record
    )


def test_pending_and_starting_before_the_runner_reports():
    state, verdict = combine(None, squeue_pending(), cancel_requested=False, created=None)
    assert (state.status, state.reason, verdict) == (JobStatus.PENDING, Reason.QUEUED, False)
    assert "Resources" in state.message
    running = SlurmJob("3", "RUNNING", node="localhost")
    state, _ = combine(None, running, cancel_requested=False, created=None)
    assert (state.status, state.reason) == (JobStatus.PENDING, Reason.STARTING)
    record = _record(JobStatus.RUNNING)
    assert combine(record, running, cancel_requested=False, created=None)[0] is record


def squeue_pending() -> SlurmJob:
    return parse_scontrol((DATA / "scontrol_pending.txt").read_text())["14"]


def test_forgotten_jobs_keep_their_record_or_are_lost():
    done = _record(JobStatus.SUCCEEDED)
    assert combine(done, None, cancel_requested=False, created=None) == (done, False)
    state, verdict = combine(_record(JobStatus.RUNNING), None, cancel_requested=False, created=None)
    assert (state.status, state.reason, verdict) == (JobStatus.FAILED, Reason.LOST, True)


def test_a_finished_slurm_job_without_a_record_is_concluded():
    state, verdict = combine(None, squeue_jobs()["7"], cancel_requested=False, created=None)
    assert (state.status, state.reason, verdict) == (JobStatus.FAILED, Reason.OOM, True)
    state, _ = combine(None, squeue_jobs()["8"], cancel_requested=True, created=None)
    assert state.status == JobStatus.CANCELLED


# -- spec → sbatch flags ---------------------------------------------------------------------
def test_options_map_to_sbatch_flags():
    spec = JobSpec(
        backend="slurm", accelerator="a100x2", memory="64Gi", cpu=8, timeout=7200,
        partition="gpu", slurm={"account": "ml", "qos": "high", "constraint": "ib&a100",
                                "flags": ["--exclusive", "--nodelist=n[1-2]"]},
    ).to_dict()  # fmt: skip
    flags = sbatch_flags("train-abc", spec, output="/home/u/.kinetic/slurm/train-abc.out")
    assert "--gres=gpu:a100:2" in flags and "--cpus-per-task=8" in flags
    assert "--mem=65536M" in flags and "--partition=gpu" in flags
    assert "--time=122" in flags  # the timeout + grace + margin: the runner stops it first
    assert {"--account=ml", "--qos=high", "--constraint=ib&a100", "--exclusive"} <= set(flags)
    assert "--job-name=train-abc" in flags and "--no-requeue" in flags
    assert all(f.startswith("--") for f in flags)  # one argv item each, never a shell word


def test_gpu_type_names_are_configurable():
    assert gres_flag("l4x4", {}, parse_gpu_types("l4=nvidia_l4")) == "--gres=gpu:nvidia_l4:4"
    assert gres_flag("l4", {}, parse_gpu_types({"nvidia-l4": ""})) == "--gres=gpu:1"
    assert gres_flag("h100x8", {"gpu_type": "h100_80g"}, {}) == "--gres=gpu:h100_80g:8"
    assert gres_flag("cpu", {}, {}) == ""
    with pytest.raises(SpecError):
        parse_gpu_types("l4")


def test_secret_values_are_not_in_the_flags():
    spec = JobSpec(backend="slurm", secret_env={"TOKEN": "hunter2"})
    flags = sbatch_flags("j-1", spec.to_dict(), output="/o", stdin="/s/j-1.json")
    assert not any("hunter2" in f for f in flags) and "--input=/s/j-1.json" in flags
