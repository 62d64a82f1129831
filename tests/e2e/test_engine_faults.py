"""The edges where work used to be lost or frozen, on the real control plane: what the
operator writes, Jobs the API server refuses or that are not ours, outputs whose pod
vanished, the API server restarting, and the operator killed at random moments."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from headway.shell import store
from headway.shell.kube import path_of
from localcluster.chart_operator import ChartOperator
from support import (
    OUT,
    WF,
    Cluster,
    create,
    emit,
    job_uids,
    jobs_of,
    start,
    task_phase,
    wait_events,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]


def test_a_status_field_cleared_by_the_operator_is_cleared_in_the_api_server(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    create(
        cluster.kube,
        namespace,
        {
            "apiVersion": WF,
            "kind": "Execution",
            "metadata": {"name": "idle"},
            "spec": {"workflowRef": {"name": "not-yet"}},
        },
    )
    path = path_of(WF, "executions", namespace, "idle")
    wait_for(lambda: (cluster.kube.get(path).get("status") or {}).get("conditions"), "Ready")

    def write(change: Any) -> JSON:
        for _ in range(10):  # the operator may write in between: read again
            obj = cluster.kube.get(path)
            status = change(dict(obj["status"]))
            try:
                written: JSON = store.replace_status(cluster.kube, obj, status)
                return written
            except store.Conflict:
                continue
        raise AssertionError("could not write the status")

    with_field = write(lambda s: {**s, "finishedAt": "2026-11-21T12:00:00Z"})
    assert with_field["status"]["finishedAt"] == "2026-11-21T12:00:00Z"
    write(lambda s: {k: v for k, v in s.items() if k != "finishedAt"})
    assert "finishedAt" not in cluster.kube.get(path)["status"]

    # The operator's own write: the difference from the version read, with explicit nulls.
    def write_difference(change: Any) -> JSON | None:
        for _ in range(10):
            obj = cluster.kube.get(path)
            try:
                return store.write_status(cluster.kube, obj, obj["status"], change(obj["status"]))
            except store.Conflict:
                continue
        raise AssertionError("could not write the status")

    added = write_difference(
        lambda s: {**s, "finishedAt": "2026-11-21T12:00:00Z", "progress": "0/0"}
    )
    assert added is not None and added["status"]["finishedAt"] == "2026-11-21T12:00:00Z"
    write_difference(lambda s: {k: v for k, v in s.items() if k not in ("finishedAt", "progress")})
    after = cluster.kube.get(path)["status"]
    assert "finishedAt" not in after and "progress" not in after
    assert store.write_status(cluster.kube, cluster.kube.get(path), after, after) is None


def test_a_job_the_api_server_refuses_fails_its_task_and_the_other_branch_finishes(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(
        cluster,
        namespace,
        "refused",
        [
            {
                "name": "bad",
                "command": emit("bad"),
                "podTemplate": {"nodeSelector": {"no way!": "x"}},
            },
            {"name": "good", "command": ["sh", "-c", f"sleep 2; {emit('good')[2]}"]},
        ],
    )
    done = wait_phase(cluster.kube, namespace, "refused-1", "Failed", "Succeeded")["status"]
    bad, good = done["tasks"]["bad"], done["tasks"]["good"]
    assert (bad["phase"], bad["reason"]) == ("Failed", "JobRejected")
    assert "nodeSelector" in bad["message"] and "job" not in bad
    assert (good["phase"], good["outputs"]) == ("Succeeded", {"from": "good"})
    assert sorted(job_uids(cluster, namespace, "refused-1")) == ["refused-1-good-1"]
    wait_events(
        cluster.kube,
        namespace,
        lambda found: any(e["reason"] == "TaskFailed" and "JobRejected" in e["message"]
                          for e in found),
    )  # fmt: skip


def test_a_job_with_the_attempts_name_that_is_not_ours_is_never_adopted(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    foreign = cluster.kube.create(
        path_of("batch/v1", "jobs", namespace),
        {
            "metadata": {"name": "own-1-a-1"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "x", "image": "python", "command": ["true"]}],
                    }
                },
            },
        },
    )
    start(
        cluster,
        namespace,
        "own",
        [{"name": "a", "command": emit("a"), "retry": {"limit": 1, "backoffSeconds": 0}}],
    )
    done = wait_phase(cluster.kube, namespace, "own-1", "Succeeded", "Failed")["status"]
    a = done["tasks"]["a"]
    assert (done["phase"], a["attempts"], a["job"], a["outputs"]) == (
        "Succeeded",
        2,
        "own-1-a-2",
        {"from": "a"},
    )
    [retrying] = [h for h in done["history"] if h["event"] == "Retrying"]
    assert "already exists and is not attempt 1 of task a" in retrying["message"]
    after = cluster.kube.get(path_of("batch/v1", "jobs", namespace, "own-1-a-1"))
    assert after["metadata"]["uid"] == foreign["metadata"]["uid"]
    assert not after["metadata"].get("ownerReferences")


def test_outputs_whose_pod_vanished_are_a_stall_never_an_empty_success(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(
        cluster,
        namespace,
        "lost",
        [{"name": "a", "command": ["sh", "-c", f'sleep 3; echo "{{\\"v\\": 1}}" > {OUT}']}],
    )
    job_path = path_of("batch/v1", "jobs", namespace, "lost-1-a-1")
    wait_for(lambda: cluster.kube.find(job_path), "the first Job")
    operator.kill()
    try:

        def complete() -> bool:
            conditions = (cluster.kube.get(job_path).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)

        wait_for(complete, "the Job to complete while the operator is down")
        pods = path_of("v1", "pods", namespace)
        for pod in cluster.kube.get(pods, labelSelector="job-name=lost-1-a-1")["items"]:
            cluster.kube.delete(f"{pods}/{pod['metadata']['name']}", gracePeriodSeconds=0)
        wait_for(
            lambda: not cluster.kube.get(pods, labelSelector="job-name=lost-1-a-1")["items"],
            "the pod to be gone",
        )
    finally:
        operator.start()
    done = wait_phase(cluster.kube, namespace, "lost-1", "Succeeded", "Failed", "Blocked")
    a = done["status"]["tasks"]["a"]
    assert (done["status"]["phase"], a["attempts"], a["autoRecoveries"], a["outputs"]) == (
        "Succeeded",
        2,
        1,
        {"v": 1},
    )
    [stall] = [h for h in done["status"]["history"] if h["event"] == "AutoRecovered"]
    assert "outputs" in stall["message"]


def chain_of(name: str, length: int) -> list[JSON]:
    return [
        {
            "name": f"t{i}",
            "dependencies": [f"t{i - 1}"] if i else [],
            "command": ["sh", "-c", f'sleep 1; echo "{{\\"i\\": {i}}}" > {OUT}'],
        }
        for i in range(length)
    ]


def assert_one_job_per_task(cluster: Cluster, namespace: str, name: str) -> None:
    jobs = jobs_of(cluster.kube, namespace, name)
    per_task = collections.Counter(j["metadata"]["labels"]["headway.dev/task"] for j in jobs)
    twice = {t: n for t, n in per_task.items() if n != 1}
    assert not twice, f"{name}: tasks with more than one Job: {twice}"


def test_the_api_server_restarting_mid_run_loses_and_repeats_nothing(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(cluster, namespace, "outage", chain_of("outage", 5))
    wait_for(
        lambda: task_phase(cluster.kube, namespace, "outage-1", "t1") == "Running", "t1 to run"
    )
    cluster.faults.restart_apiserver(down_seconds=3)
    done = wait_phase(cluster.kube, namespace, "outage-1", "Succeeded", "Failed", timeout=300)
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert [status["tasks"][f"t{i}"]["outputs"] for i in range(5)] == [{"i": i} for i in range(5)]
    assert_one_job_per_task(cluster, namespace, "outage-1")


def test_a_timeout_is_a_task_failure_retried_then_failed_never_a_stall(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """The Job controller marks the Job (FailureTarget, DeadlineExceeded) and then deletes
    its pod: each attempt is a failure with reason Timeout, never a stall."""
    start(
        cluster,
        namespace,
        "slow",
        [
            {
                "name": "a",
                "command": ["sh", "-c", "sleep 120"],
                "timeoutSeconds": 3,
                "retry": {"limit": 1, "backoffSeconds": 1},
            }
        ],
    )
    done = wait_phase(cluster.kube, namespace, "slow-1", "Failed", "Blocked", "Succeeded")
    a = done["status"]["tasks"]["a"]
    assert (done["status"]["phase"], a["phase"], a["reason"]) == ("Failed", "Failed", "Timeout")
    assert (a["attempts"], a.get("autoRecoveries", 0), a["failures"]) == (2, 0, 2), a
    assert a["message"] == "the attempt ran longer than timeoutSeconds (3s)"
    events = [h["event"] for h in done["status"]["history"] if h.get("task") == "a"]
    assert events == ["Started", "Retrying", "Started", "Failed"], events
    assert sorted(job_uids(cluster, namespace, "slow-1")) == ["slow-1-a-1", "slow-1-a-2"]
