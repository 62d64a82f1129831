"""Executions run end to end on a real API server with the real operator process."""

from __future__ import annotations

import datetime
import subprocess
from typing import Any

import pytest

from headway.shell.kube import KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import (
    Cluster,
    apply_example,
    create,
    execution,
    jobs_of,
    wait_events,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
WF = "headway.dev/v1alpha1"


def workflow(name: str, tasks: list[JSON], **spec: Any) -> JSON:
    return {
        "apiVersion": WF,
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"taskDefaults": {"image": "python:3.12-slim"}, "tasks": tasks, **spec},
    }


def run(name: str, workflow_name: str, **spec: Any) -> JSON:
    return {
        "apiVersion": WF,
        "kind": "Execution",
        "metadata": {"name": name},
        "spec": {"workflowRef": {"name": workflow_name}, **spec},
    }


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def time_of(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def test_etl_example_passes_outputs_downstream(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "etl")

    done = wait_phase(cluster.kube, namespace, "etl-2026-11-21", "Succeeded", "Failed")

    status = done["status"]
    assert status["phase"] == "Succeeded"
    assert status["progress"] == "3/3"
    tasks = status["tasks"]
    assert tasks["extract"]["outputs"] == {"rows": 42, "day": "2026-11-21"}
    # n comes through HEADWAY_INPUTS, substituted through {{ tasks.extract.outputs.rows }}
    assert tasks["transform"]["outputs"] == {"n": 84, "substituted": 42}
    assert tasks["load"]["outputs"] == {"loaded": 84, "day": "2026-11-21"}
    for name in ("extract", "transform", "load"):
        assert tasks[name]["attempts"] == 1
        assert tasks[name]["outputsSource"] == "Job"
        assert tasks[name]["job"] == f"etl-2026-11-21-{name}-1"
        assert len(tasks[name]["idempotencyKey"]) == 32
    assert status["workflow"]["tasks"][0]["name"] == "extract"  # the snapshot
    job = jobs_of(cluster.kube, namespace, "etl-2026-11-21")[0]
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Execution"
    assert job["metadata"]["labels"]["headway.dev/task"] == "extract"
    assert job["metadata"]["labels"]["headway.dev/attempt"] == "1"
    wanted = {"TaskStarted", "TaskSucceeded", "ExecutionSucceeded"}
    events = wait_events(
        cluster.kube, namespace, lambda found: wanted <= {e["reason"] for e in found},
        "etl-2026-11-21",
    )  # fmt: skip
    assert wanted <= {e["reason"] for e in events}


def test_diamond_runs_its_middle_tasks_in_parallel(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "diamond")

    done = wait_phase(cluster.kube, namespace, "diamond-1", "Succeeded", "Failed")

    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["tasks"]["join"]["outputs"] == {"sum": 8 + 14}
    spans = {}
    for name in ("left", "right"):
        pods = cluster.kube.get(
            path_of("v1", "pods", namespace), labelSelector=f"job-name=diamond-1-{name}-1"
        )
        terminated = pods["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]
        spans[name] = (time_of(terminated["startedAt"]), time_of(terminated["finishedAt"]))
    # Overlap: each started before the other finished (each sleeps 3 s).
    assert max(s for s, _ in spans.values()) < min(f for _, f in spans.values()), spans


def test_retries_with_growing_delays_then_fails_while_independent_branch_finishes(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    create(
        cluster.kube,
        namespace,
        workflow(
            "retrying",
            [
                {
                    "name": "bad",
                    "command": sh("echo broken >&2; exit 1"),
                    "retry": {"limit": 2, "backoffSeconds": 2, "backoffFactor": 3},
                },
                {
                    "name": "good",
                    "command": sh('sleep 1; echo "{\\"ok\\": true}" > "$HEADWAY_OUTPUTS_FILE"'),
                },
                {"name": "after-bad", "dependencies": ["bad"], "command": ["true"]},
            ],
        ),
    )
    create(cluster.kube, namespace, run("retrying-1", "retrying"))

    done = wait_phase(cluster.kube, namespace, "retrying-1", "Failed", "Succeeded")

    status = done["status"]
    assert status["phase"] == "Failed"
    bad = status["tasks"]["bad"]
    assert (bad["phase"], bad["attempts"], bad["exitCode"], bad["reason"]) == (
        "Failed",
        3,
        1,
        "NonZeroExit",
    )
    assert status["tasks"]["good"]["phase"] == "Succeeded"
    assert status["tasks"]["after-bad"]["phase"] == "Pending"
    jobs = [
        j
        for j in jobs_of(cluster.kube, namespace, "retrying-1")
        if j["metadata"]["labels"]["headway.dev/task"] == "bad"
    ]
    assert [j["metadata"]["name"] for j in jobs] == [f"retrying-1-bad-{n}" for n in (1, 2, 3)]
    retries = [h["message"] for h in status["history"] if h["event"] == "Retrying"]
    assert [m.rsplit("retry in ", 1)[1] for m in retries] == ["2s", "6s"]
    created = [time_of(j["metadata"]["creationTimestamp"]) for j in jobs]
    first_gap, second_gap = created[1] - created[0], created[2] - created[1]
    assert first_gap >= datetime.timedelta(seconds=2)
    assert second_gap >= datetime.timedelta(seconds=6)
    assert second_gap > first_gap


@pytest.mark.parametrize(
    ("script", "reason", "words"),
    [
        ("echo 'this is not json' > \"$HEADWAY_OUTPUTS_FILE\"", "OutputsNotJSON", "not valid JSON"),
        ("echo '[1, 2]' > \"$HEADWAY_OUTPUTS_FILE\"", "OutputsNotObject", "must be a JSON object"),
        (
            'python3 -c "import json, os; '
            "json.dump({'x': 'y' * 5000}, open(os.environ['HEADWAY_OUTPUTS_FILE'], 'w'))\"",
            "OutputsTooLarge",
            "4096 bytes",
        ),
    ],
)
def test_bad_outputs_fail_the_attempt_with_a_reason(
    cluster: Cluster,
    operator: ChartOperator,
    namespace: str,
    script: str,
    reason: str,
    words: str,
) -> None:
    create(cluster.kube, namespace, workflow("outputs", [{"name": "emit", "command": sh(script)}]))
    create(cluster.kube, namespace, run("outputs-1", "outputs"))

    done = wait_phase(cluster.kube, namespace, "outputs-1", "Failed", "Succeeded")

    task = done["status"]["tasks"]["emit"]
    assert (done["status"]["phase"], task["phase"], task["reason"]) == ("Failed", "Failed", reason)
    assert words in task["message"]
    assert "outputs" not in task


def test_operator_killed_while_tasks_run_and_while_a_job_completes(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    step = 'sleep 3; echo "{\\"t\\": \\"$HEADWAY_TASK\\"}" > "$HEADWAY_OUTPUTS_FILE"'
    create(
        cluster.kube,
        namespace,
        workflow(
            "restart",
            [
                {"name": "a", "command": sh(step)},
                {"name": "b", "dependencies": ["a"], "command": sh(step)},
                {"name": "c", "dependencies": ["b"], "command": sh(step)},
            ],
        ),
    )
    create(cluster.kube, namespace, run("restart-1", "restart"))

    def jobs() -> dict[str, JSON]:
        return {j["metadata"]["name"]: j for j in jobs_of(cluster.kube, namespace, "restart-1")}

    def complete(name: str) -> bool:
        conditions = (jobs().get(name, {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)

    wait_for(lambda: "restart-1-a-1" in jobs(), "task a to start")
    operator.kill()  # while a runs
    wait_for(lambda: complete("restart-1-a-1"), "a's Job to complete while the operator is down")
    operator.start()
    wait_for(lambda: "restart-1-b-1" in jobs(), "task b to start after the restart")
    operator.kill()  # while b runs
    wait_for(lambda: complete("restart-1-b-1"), "b's Job to complete while the operator is down")
    operator.start()

    done = wait_phase(cluster.kube, namespace, "restart-1", "Succeeded", "Failed")

    assert done["status"]["phase"] == "Succeeded"
    assert sorted(jobs()) == ["restart-1-a-1", "restart-1-b-1", "restart-1-c-1"]
    for name in "abc":
        task = done["status"]["tasks"][name]
        assert (task["attempts"], task["outputs"]) == (1, {"t": name})


INVALID_WORKFLOWS = [
    (
        "cycle",
        [{"name": "a", "dependencies": ["b"]}, {"name": "b", "dependencies": ["a"]}],
        "dependency cycle: a -> b -> a",
    ),
    (
        "unknown-dependency",
        [{"name": "a", "dependencies": ["ghost"]}],
        'depends on unknown task "ghost"',
    ),
    ("duplicate", [{"name": "a"}, {"name": "a"}], 'duplicate task name "a"'),
    (
        "undeclared-param",
        [{"name": "a", "args": ["{{ params.day }}"]}],
        'undeclared parameter "day"',
    ),
    (
        "non-ancestor",
        [{"name": "a"}, {"name": "b", "args": ["{{ tasks.a.outputs.x }}"]}],
        'refers to outputs of "a", which is not an ancestor',
    ),
]


@pytest.mark.parametrize(
    ("name", "tasks", "message"), INVALID_WORKFLOWS, ids=[w[0] for w in INVALID_WORKFLOWS]
)
def test_invalid_workflow_is_refused_naming_the_problem(
    cluster: Cluster,
    operator: ChartOperator,
    namespace: str,
    name: str,
    tasks: list[JSON],
    message: str,
) -> None:
    for task in tasks:
        task.setdefault("command", ["true"])
    with pytest.raises(KubeError) as refused:
        create(cluster.kube, namespace, workflow(name, tasks))
    assert message in str(refused.value)
    # Inline in an Execution, the same problem is refused the same way.
    inline = {
        "apiVersion": WF,
        "kind": "Execution",
        "metadata": {"name": f"{name}-inline"},
        "spec": {"workflow": workflow(name, tasks)["spec"]},
    }
    with pytest.raises(KubeError) as refused_inline:
        create(cluster.kube, namespace, inline)
    assert message in str(refused_inline.value)


def test_execution_with_unknown_parameter_is_refused(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    create(
        cluster.kube,
        namespace,
        workflow("p", [{"name": "a", "command": ["true"]}], params=[{"name": "day"}]),
    )
    with pytest.raises(KubeError) as refused:
        create(cluster.kube, namespace, run("p-1", "p", params={"dya": "x"}))
    assert 'unknown parameter "dya"' in str(refused.value)
    assert 'parameter "day" is required' in str(refused.value)


def test_without_the_webhook_an_invalid_workflow_is_marked_and_never_run(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    webhooks = f"{ADMISSION}/validatingwebhookconfigurations/{operator.configuration}"
    cluster.kube.delete(webhooks)
    try:
        wait_for(lambda: cluster.kube.find(webhooks) is None, "the webhook configuration to go")
        create(
            cluster.kube,
            namespace,
            workflow(
                "loop",
                [
                    {"name": "a", "dependencies": ["b"], "command": ["true"]},
                    {"name": "b", "dependencies": ["a"], "command": ["true"]},
                ],
            ),
        )
        create(cluster.kube, namespace, run("loop-1", "loop"))

        def not_ready(path: str) -> JSON | None:
            conditions = (cluster.kube.get(path).get("status") or {}).get("conditions") or []
            return next(
                (c for c in conditions if c["type"] == "Ready" and c["status"] == "False"), None
            )

        wf_ready = wait_for(
            lambda: not_ready(path_of(WF, "workflows", namespace, "loop")), "Workflow Ready=False"
        )
        exe_ready = wait_for(
            lambda: not_ready(path_of(WF, "executions", namespace, "loop-1")),
            "Execution Ready=False",
        )
        assert wf_ready["message"] == "dependency cycle: a -> b -> a"
        assert (exe_ready["reason"], exe_ready["message"]) == (
            "InvalidWorkflow",
            "dependency cycle: a -> b -> a",
        )
        assert execution(cluster.kube, namespace, "loop-1")["status"]["phase"] == "Pending"
        assert jobs_of(cluster.kube, namespace, "loop-1") == []
    finally:
        operator.start()  # the chart's configuration again (and its CA from the operator)


def test_kubectl_get_executions_shows_phase_and_progress(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "diamond")
    wait_phase(cluster.kube, namespace, "diamond-1", "Succeeded")

    out = subprocess.run(
        [
            cluster.kubectl,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "-n",
            namespace,
            "get",
            "executions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "AGE"]
    assert row.split()[:3] == ["diamond-1", "Succeeded", "4/4"]


def test_deleting_an_execution_deletes_its_jobs(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "diamond")
    wait_phase(cluster.kube, namespace, "diamond-1", "Succeeded")
    assert len(jobs_of(cluster.kube, namespace, "diamond-1")) == 4

    cluster.kube.delete(path_of(WF, "executions", namespace, "diamond-1"))

    wait_for(
        lambda: not jobs_of(cluster.kube, namespace, "diamond-1"),
        "the Jobs to be garbage-collected",
    )


def test_retry_example_fails_once_then_succeeds(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "retry")

    done = wait_phase(cluster.kube, namespace, "flaky-1", "Succeeded", "Failed")

    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["tasks"]["flaky"]["outputs"] == {"attempt": 2}
    assert [j["metadata"]["name"] for j in jobs_of(cluster.kube, namespace, "flaky-1")] == [
        "flaky-1-flaky-1",
        "flaky-1-flaky-2",
    ]
