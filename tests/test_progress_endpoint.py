"""Progress to the KineticJob (pure parts): the report's bounds, who may report for which
job, the token review's cache, the Job's projected token, and the status write."""

from __future__ import annotations

import base64
import json
import time

import pytest
from chart_support import kineticjob
from kinetic_operator import progress_server as ps
from kinetic_operator.decisions import Action, status_patch

from kinetic.k8s.job_manifest import (
    PROGRESS_AUDIENCE,
    PROGRESS_TOKEN_FILE,
    OperatorConfig,
    build_job,
)
from kinetic.wire.progress_record import validate_report


def test_reports_are_bounded():
    assert validate_report({"fraction": 1.5}) is None
    assert validate_report({"fraction": True}) is None
    assert validate_report({"fraction": float("nan")}) is None
    report = validate_report({
        "fraction": 0.25, "message": "x" * 500, "updated": "2026-11-24T10:00:00Z",
        "metrics": {"loss": 0.5, "note": "text", **{f"m{i:02}": i for i in range(30)}},
    })  # fmt: skip
    assert report["fraction"] == 0.25 and len(report["message"]) == 200
    assert len(report["metrics"]) == 20 and "note" not in report["metrics"]


def test_only_the_reviewed_pods_job_and_attempt():
    pod = ("ml", "train-abc12345", 2)
    key, report = ps.accept({"job_id": "train-abc12345", "attempt": 2,
                             "report": {"fraction": 0.5}}, pod)  # fmt: skip
    assert key == ("ml", "train-abc12345") and report["fraction"] == 0.5
    for body, code in [
        ({"job_id": "other-job", "report": {"fraction": 0.5}}, 403),
        ({"job_id": "train-abc12345", "attempt": 1, "report": {"fraction": 0.5}}, 403),
        ({"job_id": "train-abc12345", "attempt": 2, "report": {"fraction": 9}}, 400),
        ([], 400),
    ]:
        with pytest.raises(ps.Refused) as info:
            ps.accept(body, pod)
        assert info.value.code == code
    with pytest.raises(ps.Refused) as info:
        ps.accept({"job_id": "x"}, None)
    assert info.value.code == 503  # the pod watch has not shown it yet


def jwt(exp: float) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
    return f"header.{claims}.signature"


def test_token_reviews_are_checked_and_cached():
    calls = []

    def review(token):
        calls.append(token)
        return {"authenticated": True, "audiences": [PROGRESS_AUDIENCE],
                "user": {"extra": {ps.POD_UID: ["pod-uid-1"]}}}  # fmt: skip

    token, cache = jwt(time.time() + 3600), ps.ReviewCache()
    assert ps.reviewed_pod(token, review, cache) == "pod-uid-1"
    assert ps.reviewed_pod(token, review, cache) == "pod-uid-1"
    assert len(calls) == 1  # one review per token while it is valid
    refusals = [
        {"authenticated": False},
        {"authenticated": True, "audiences": ["https://kubernetes.default.svc"],
         "user": {"extra": {ps.POD_UID: ["p"]}}},
        {"authenticated": True, "audiences": [PROGRESS_AUDIENCE], "user": {}},
    ]  # fmt: skip
    for n, status in enumerate(refusals):
        with pytest.raises(ps.Refused) as info:
            ps.reviewed_pod(jwt(time.time() + 60 + n), lambda _t, s=status: s, cache)
        assert info.value.code == 401


def test_the_pod_gets_a_token_for_the_operator_only_when_configured():
    plain = build_job(kineticjob(), OperatorConfig())["spec"]["template"]["spec"]
    assert "volumes" not in plain and "serviceAccountName" not in plain
    config = OperatorConfig(progress_url="http://op.kinetic-system.svc:8081/progress")
    pod = build_job(kineticjob(), config)["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == PROGRESS_AUDIENCE
    assert pod["serviceAccountName"] == "default"  # a projected token needs it named
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KINETIC_PROGRESS_URL"] == config.progress_url
    assert env["KINETIC_PROGRESS_TOKEN_FILE"] == PROGRESS_TOKEN_FILE
    assert container["volumeMounts"][0]["readOnly"] is True


def test_a_report_replaces_the_previous_one_whole():
    kj = kineticjob()
    kj["status"] = {"phase": "RUNNING", "progress": {"fraction": 0.2, "message": "warming up",
                                                     "metrics": {"loss": 2.0}}}  # fmt: skip
    new = {"fraction": 0.5, "metrics": {"acc": 0.9}}
    patch = status_patch(kj, None, [], Action(), new)
    assert patch["progress"] == {"fraction": 0.5, "message": None,
                                 "metrics": {"loss": None, "acc": 0.9}}  # fmt: skip
    assert patch["progressText"] == "50%"
    kj["status"].update(progress=new, progressText="50%")
    assert "progress" not in (status_patch(kj, None, [], Action(), new) or {})
