"""Operating runs end to end: stop a run with a running and a pending Job (none left,
Stopped, finally ran), refuse a recovery while it stops, then resume and recover it to
Succeeded; suspend and resume mid-chain; the operator killed during a stop — as people
do it with ``kubectl headway``, against the chart-installed operator."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from headway.shell.kube import path_of
from localcluster.chart_operator import ChartOperator
from support import (
    GATE_ENV,
    OUT,
    READER,
    WF,
    Cluster,
    annotate,
    create,
    define,
    execution,
    gate,
    grant,
    jobs_of,
    phases,
    request,
    run,
    task_phase,
    wait_for,
    wait_phase,
    wait_request,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
RUNNER = ("headway-view", "headway-run", "headway-recover")


def running(cluster: Cluster, namespace: str, name: str, task: str) -> bool:
    return task_phase(cluster.kube, namespace, name, task) == "Running"


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[JSON]:
    found = cluster.kube.get(
        path_of("v1", "pods", namespace), labelSelector=f"batch.kubernetes.io/job-name={job}"
    )
    return list(found["items"])


def has_pod(cluster: Cluster, namespace: str, job: str) -> bool:
    return bool(pods_of(cluster, namespace, job))


def no_jobs_of(cluster: Cluster, namespace: str, name: str, tasks: set[str]) -> bool:
    left = [j for j in jobs_of(cluster.kube, namespace, name)
            if j["metadata"]["labels"]["headway.dev/task"] in tasks]  # fmt: skip
    return not left


SLOW = 'test "$GATE" = open || sleep 600; echo "{}" > ' + OUT
REPORT = f'echo "{{\\"phase\\": \\"$HEADWAY_EXECUTION_PHASE\\"}}" > {OUT}'
STOPPABLE: JSON = {
    "tasks": [
        {"name": "slow", "command": ["sh", "-c", SLOW], "env": [GATE_ENV]},
        # Its pod waits (CreateContainerConfigError) until the ConfigMap "later" exists.
        {"name": "waiting", "command": ["sh", "-c", f'echo "{{}}" > {OUT}'],
         "env": [{"name": "LATER",
                  "valueFrom": {"configMapKeyRef": {"name": "later", "key": "v"}}}]},
        {"name": "after", "dependencies": ["slow"], "command": ["sh", "-c", f"echo {{}} > {OUT}"]},
    ],
    "finally": [
        {"name": "report", "command": ["sh", "-c", REPORT]},
    ],
}  # fmt: skip


def test_stop_leaves_no_job_runs_finally_and_the_run_is_recovered_after_resume(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    grant(cluster, namespace, "alice", *RUNNER)
    grant(cluster, namespace, "carol", *READER)
    gate(cluster, namespace, "closed")
    define(cluster, namespace, "halt", STOPPABLE)
    wait_for(functools.partial(running, cluster, namespace, "halt-1", "slow"), "slow to run")
    wait_for(functools.partial(has_pod, cluster, namespace, "halt-1-waiting-1"), "waiting's pod")
    [pending] = pods_of(cluster, namespace, "halt-1-waiting-1")
    assert pending["status"].get("phase") == "Pending"

    refused = run(cluster, "carol", namespace, "stop", "halt-1")
    assert refused.returncode == 4
    assert "permission to patch executions.headway.dev" in refused.stderr
    stopped = run(cluster, "alice", namespace, "stop", "halt-1")
    assert stopped.returncode == 0, stopped.stderr
    done = wait_phase(cluster.kube, namespace, "halt-1", "Stopped")
    assert phases(done) == {"slow": "Stopped", "waiting": "Stopped", "after": "Pending",
                            "report": "Succeeded"}  # fmt: skip
    assert done["status"]["tasks"]["report"]["outputs"] == {"phase": "Stopped"}
    assert done["status"]["tasks"]["slow"]["failures"] == 0
    wait_for(functools.partial(no_jobs_of, cluster, namespace, "halt-1", {"slow", "waiting"}),
             "the stopped Jobs to be gone")  # fmt: skip
    assert not pods_of(cluster, namespace, "halt-1-slow-1")
    assert not pods_of(cluster, namespace, "halt-1-waiting-1")

    request(cluster.kube, namespace, "too-soon", "halt-1", mode="Flow")
    rejected = wait_request(cluster, namespace, "too-soon", "Rejected")
    assert "spec.stop" in rejected["status"]["message"]

    gate(cluster, namespace, "open")
    later = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}}
    create(cluster.kube, namespace, {**later, "data": {"v": "1"}})
    resumed = run(cluster, "alice", namespace, "resume", "halt-1")
    assert resumed.returncode == 0, resumed.stderr
    assert "stays Stopped until recovered" in resumed.stdout
    assert execution(cluster.kube, namespace, "halt-1")["status"]["phase"] == "Stopped"
    annotate(cluster.kube, namespace, "halt-1", "again")
    recovered = wait_phase(cluster.kube, namespace, "halt-1", "Succeeded")
    assert phases(recovered) == {"slow": "Succeeded", "waiting": "Succeeded",
                                 "after": "Succeeded", "report": "Succeeded"}  # fmt: skip
    report = recovered["status"]["tasks"]["report"]
    assert report["attempts"] == 2 and report["outputs"] == {"phase": "Succeeded"}
    assert "stoppedAt" not in recovered["status"]


CHAIN: JSON = {
    "tasks": [
        {"name": "a", "command": ["sh", "-c", f"sleep 15; echo {{}} > {OUT}"]},
        {"name": "b", "dependencies": ["a"], "command": ["sh", "-c", f"echo {{}} > {OUT}"]},
        {"name": "c", "dependencies": ["b"], "command": ["sh", "-c", f"echo {{}} > {OUT}"]},
    ]
}  # fmt: skip


def test_suspend_mid_chain_lets_the_running_task_finish_and_resume_goes_on(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    grant(cluster, namespace, "alice", *RUNNER)
    define(cluster, namespace, "chain", CHAIN)
    wait_for(functools.partial(running, cluster, namespace, "chain-1", "a"), "a to run")
    assert run(cluster, "alice", namespace, "suspend", "chain-1").returncode == 0
    wait_phase(cluster.kube, namespace, "chain-1", "Suspended")
    wait_for(
        lambda: task_phase(cluster.kube, namespace, "chain-1", "a") == "Succeeded",
        "a to finish while suspended",
        timeout=120,
    )
    held = execution(cluster.kube, namespace, "chain-1")
    assert held["status"]["phase"] == "Suspended" and phases(held)["b"] == "Pending"
    assert [j["metadata"]["name"] for j in jobs_of(cluster.kube, namespace, "chain-1")] == [
        "chain-1-a-1"
    ]
    assert run(cluster, "alice", namespace, "resume", "chain-1").returncode == 0
    done = wait_phase(cluster.kube, namespace, "chain-1", "Succeeded")
    assert phases(done) == {"a": "Succeeded", "b": "Succeeded", "c": "Succeeded"}


def test_an_operator_killed_during_a_stop_finishes_it_and_starts_nothing(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    define(cluster, namespace, "dying", STOPPABLE)
    wait_for(functools.partial(running, cluster, namespace, "dying-1", "slow"), "slow to run")
    operator.kill()
    path = path_of(WF, "executions", namespace, "dying-1")
    cluster.kube.patch(path, {"spec": {"stop": True}})  # seen by no operator yet
    gate(cluster, namespace, "open")  # were slow to be rerun now, it would succeed
    operator.start()
    done = wait_phase(cluster.kube, namespace, "dying-1", "Stopped")
    assert phases(done)["slow"] == "Stopped" and phases(done)["after"] == "Pending"
    assert done["status"]["tasks"]["report"]["outputs"] == {"phase": "Stopped"}
    wait_for(functools.partial(no_jobs_of, cluster, namespace, "dying-1", {"slow", "waiting"}),
             "the stopped Jobs to be gone")  # fmt: skip
    names = {j["metadata"]["name"] for j in jobs_of(cluster.kube, namespace, "dying-1")}
    assert names == {"dying-1-report-1"}  # nothing else started, nothing twice


def test_time_to_live_deletes_a_succeeded_run_and_keeps_a_failed_one(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    gated_echo = f'test "$GATE" = open && echo {{}} > {OUT}'
    spec = {"tasks": [{"name": "t", "command": ["sh", "-c", gated_echo], "env": [GATE_ENV]}]}
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "short"},
        "spec": {"taskDefaults": {"image": "python:3.12-slim"}, **spec},
    })  # fmt: skip
    for name in ("short-bad", "short-good"):
        if name == "short-good":
            gate(cluster, namespace, "open")
        create(cluster.kube, namespace, {
            "apiVersion": WF, "kind": "Execution", "metadata": {"name": name},
            "spec": {"workflowRef": {"name": "short"}, "ttlSecondsAfterFinished": 2,
                     "ttlSecondsAfterFailure": None},
        })  # fmt: skip
        wait_phase(cluster.kube, namespace, name, "Failed" if name == "short-bad" else "Succeeded")
    path = path_of(WF, "executions", namespace)

    def gone() -> bool:
        names = {e["metadata"]["name"] for e in cluster.kube.get(path)["items"]}
        return "short-good" not in names

    wait_for(gone, "the succeeded run to be deleted by its time to live")
    assert execution(cluster.kube, namespace, "short-bad")["status"]["phase"] == "Failed"
    wait_for(lambda: not jobs_of(cluster.kube, namespace, "short-good"), "its Jobs to go with it")
    assert jobs_of(cluster.kube, namespace, "short-bad")  # kept, to be recovered


def test_job_retention_failed_keeps_outputs_and_failed_jobs_and_the_cli_says_logs_are_gone(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    grant(cluster, namespace, "carol", *READER)
    gate(cluster, namespace, "closed")
    spec = {"tasks": [
        {"name": "ok", "command": ["sh", "-c", f'echo "{{\\"n\\": 7}}" > {OUT}']},
        {"name": "bad", "command": ["sh", "-c", f'test "$GATE" = open && echo {{}} > {OUT}'],
         "env": [GATE_ENV]},
    ]}  # fmt: skip
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "lean"},
        "spec": {"taskDefaults": {"image": "python:3.12-slim"}, **spec},
    })  # fmt: skip
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Execution", "metadata": {"name": "lean-1"},
        "spec": {"workflowRef": {"name": "lean"}, "jobRetention": "Failed"},
    })  # fmt: skip
    failed = wait_phase(cluster.kube, namespace, "lean-1", "Failed")
    assert failed["status"]["tasks"]["ok"]["outputs"] == {"n": 7}

    def only_failed_left() -> bool:
        names = {j["metadata"]["name"] for j in jobs_of(cluster.kube, namespace, "lean-1")}
        return names == {"lean-1-bad-1"}

    wait_for(only_failed_left, "the succeeded attempt's Job to be deleted")
    assert execution(cluster.kube, namespace, "lean-1")["status"]["tasks"]["ok"]["outputs"] == {
        "n": 7
    }
    logs = run(cluster, "carol", namespace, "logs", "lean-1", "ok")
    assert logs.returncode == 3
    assert "jobRetention: Failed" in logs.stderr and "logs went with them" in logs.stderr
    bad = run(cluster, "carol", namespace, "logs", "lean-1", "bad")
    assert bad.returncode == 0, bad.stderr
