"""What a person does next: recoveries one after the other, on the real control plane.

Each sequence starts from a chain ``a -> b -> c`` whose ``b`` fails until the test opens
the ``gate`` ConfigMap. It checks the tasks, the Jobs and the requests, and that fields a
recovery clears are gone from the API server (status is written whole).
"""

from __future__ import annotations

from typing import Any

import pytest

from headway.shell.kube import path_of
from localcluster.chart_operator import ChartOperator
from support import (
    OUT,
    WF,
    Cluster,
    annotate,
    create,
    emit,
    execution,
    failing_run,
    gate,
    gated,
    job_uids,
    request,
    start,
    wait_for,
    wait_phase,
    wait_request,
    wait_token,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
ENDED = ("Succeeded", "Failed", "Rejected")


def chain(sleep: float = 0) -> list[JSON]:
    return [
        {"name": "a", "command": emit("a")},
        {"dependencies": ["a"], **gated("b", sleep)},
        {
            "name": "c",
            "dependencies": ["b"],
            "command": ["sh", "-c", f'echo "$HEADWAY_INPUTS" > {OUT}'],
        },
    ]


def status_of(cluster: Cluster, namespace: str) -> JSON:
    status: JSON = execution(cluster.kube, namespace, "seq-1")["status"]
    return status


def task_is(cluster: Cluster, namespace: str, task: str, *phases: str) -> JSON:
    def check() -> JSON | None:
        status = status_of(cluster, namespace)
        return status if status["tasks"][task]["phase"] in phases else None

    return wait_for(check, f"task {task} to be {'/'.join(phases)}")


def assert_clean_success(status: JSON, task: str) -> None:
    """A task that ended well carries no trace of an earlier failure."""
    state = status["tasks"][task]
    assert state["phase"] == "Succeeded"
    for stale in ("reason", "message", "nextAttemptAt"):
        assert stale not in state, f"{task} still has {stale}: {state}"


def test_step_that_fails_again_then_flow(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "seq", chain())
    request(cluster.kube, namespace, "step", "seq-1", mode="Step", task="b")
    step = wait_request(cluster, namespace, "step", *ENDED)
    assert step["status"]["phase"] == "Failed"  # the gate is still closed
    held = status_of(cluster, namespace)
    assert held["phase"] == "Failed"
    assert held["tasks"]["c"]["held"] is True
    assert held["recovery"]["frozen"] == {"b": "Failed"}

    gate(cluster, namespace, "open")
    request(cluster.kube, namespace, "flow", "seq-1", mode="Flow")
    flow = wait_request(cluster, namespace, "flow", *ENDED)
    assert flow["status"]["phase"] == "Succeeded", flow["status"]
    assert flow["status"]["tasks"] == ["b", "c"]
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert "held" not in done["tasks"]["c"] and "frozen" not in done["recovery"]
    assert_clean_success(done, "b")
    assert done["tasks"]["c"]["outputs"] == {"b": {"from": "b"}}
    assert sorted(job_uids(cluster, namespace, "seq-1")) == [
        "seq-1-a-1",
        "seq-1-b-1",
        "seq-1-b-2",
        "seq-1-b-3",
        "seq-1-c-1",
    ]


def test_step_that_succeeds_then_flow_on_the_held_successor(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failed = failing_run(cluster, namespace, "seq", chain())
    first_finish = failed["status"]["finishedAt"]
    gate(cluster, namespace, "open")
    request(cluster.kube, namespace, "step", "seq-1", mode="Step", task="b")
    assert wait_request(cluster, namespace, "step", *ENDED)["status"]["phase"] == "Succeeded"
    stepped = task_is(cluster, namespace, "b", "Succeeded")
    assert stepped["phase"] == "Failed"  # frozen: b counts as it was
    assert stepped["finishedAt"] == first_finish
    assert stepped["tasks"]["c"]["phase"] == "Pending"

    request(cluster.kube, namespace, "flow-c", "seq-1", mode="Flow", task="c")
    flow = wait_request(cluster, namespace, "flow-c", *ENDED)
    assert flow["status"]["phase"] == "Succeeded", flow["status"]
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert done["tasks"]["b"]["attempts"] == 2 and done["tasks"]["c"]["attempts"] == 1
    assert done["finishedAt"] >= first_finish
    assert_clean_success(done, "b")


def test_step_then_provide_outputs(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "seq", chain())
    request(cluster.kube, namespace, "step", "seq-1", mode="Step", task="b")
    assert wait_request(cluster, namespace, "step", *ENDED)["status"]["phase"] == "Failed"

    request(
        cluster.kube,
        namespace,
        "give",
        "seq-1",
        mode="ProvideOutputs",
        task="b",
        outputs={"from": "hand"},
    )
    assert wait_request(cluster, namespace, "give", *ENDED)["status"]["phase"] == "Succeeded"
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    b = done["tasks"]["b"]
    assert (b["outputs"], b["outputsSource"]) == ({"from": "hand"}, "Provided")
    assert "exitCode" not in b and "nextAttemptAt" not in b
    assert done["tasks"]["c"]["outputs"] == {"b": {"from": "hand"}}
    assert "frozen" not in done["recovery"]


def test_the_recover_annotation_twice(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failed = failing_run(cluster, namespace, "seq", chain())
    annotate(cluster.kube, namespace, "seq-1", "first")
    wait_token(cluster, namespace, "seq-1", "first")
    wait_for(
        lambda: status_of(cluster, namespace)["tasks"]["b"]["attempts"] == 2, "b's second attempt"
    )
    again = wait_phase(cluster.kube, namespace, "seq-1", "Failed")["status"]
    assert again["tasks"]["b"]["reason"] == "NonZeroExit"

    gate(cluster, namespace, "open")
    annotate(cluster.kube, namespace, "seq-1", "second")
    wait_token(cluster, namespace, "seq-1", "second")
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert_clean_success(done, "b")
    assert done["tasks"]["b"]["attempts"] == 3
    assert done["finishedAt"] >= failed["status"]["finishedAt"]
    retriggered = [(h["task"], h["by"]) for h in done["history"] if h["event"] == "Retriggered"]
    assert retriggered == [("b", "headway-admin"), ("b", "headway-admin")]


def test_step_updating_the_phase_then_the_annotation_releases_the_held_successor(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "seq", chain())
    gate(cluster, namespace, "open")
    request(
        cluster.kube, namespace, "step", "seq-1", mode="Step", task="b", updateExecutionPhase=True
    )
    assert wait_request(cluster, namespace, "step", *ENDED)["status"]["phase"] == "Succeeded"
    paused = wait_phase(cluster.kube, namespace, "seq-1", "Paused")["status"]
    assert "finishedAt" in paused and paused["tasks"]["c"]["held"] is True

    annotate(cluster.kube, namespace, "seq-1", "go-on")
    wait_token(cluster, namespace, "seq-1", "go-on")
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert done["tasks"]["c"]["outputs"] == {"b": {"from": "b"}}
    assert done["tasks"]["b"]["attempts"] == 2  # b was not rerun by the annotation


def test_a_rerun_task_reports_exactly_its_new_outputs(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    shape = path_of("v1", "configmaps", namespace, "shape")
    cluster.kube.create(
        path_of("v1", "configmaps", namespace),
        {"metadata": {"name": "shape"}, "data": {"json": '{"n": 5, "old": true}'}},
    )
    shaped: JSON = {
        "name": "x",
        "command": ["sh", "-c", f'echo "$SHAPE" > {OUT}'],
        "env": [
            {"name": "SHAPE", "valueFrom": {"configMapKeyRef": {"name": "shape", "key": "json"}}}
        ],
    }
    tasks: list[JSON] = [
        shaped,
        {
            "name": "y",
            "dependencies": ["x"],
            "command": ["sh", "-c", f'echo "$HEADWAY_INPUTS" > {OUT}'],
        },
    ]
    start(cluster, namespace, "seq", tasks)
    first = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert first["tasks"]["x"]["outputs"] == {"n": 5, "old": True}

    cluster.kube.patch(shape, {"data": {"json": '{"n": 5}'}})
    request(cluster.kube, namespace, "rerun-x", "seq-1", mode="Flow", task="x")
    assert wait_request(cluster, namespace, "rerun-x", *ENDED)["status"]["phase"] == "Succeeded"
    done = wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")["status"]
    assert done["tasks"]["x"]["outputs"] == {"n": 5}
    assert done["tasks"]["y"]["outputs"] == {"x": {"n": 5}}
    assert done["tasks"]["x"]["idempotencyKey"] == first["tasks"]["x"]["idempotencyKey"]
    assert done["tasks"]["y"]["idempotencyKey"] != first["tasks"]["y"]["idempotencyKey"]


def test_a_request_waits_pending_while_an_earlier_one_is_applied(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "seq", chain(sleep=4))
    gate(cluster, namespace, "open")
    request(cluster.kube, namespace, "first", "seq-1", mode="Step", task="b")
    wait_request(cluster, namespace, "first", "Applied")
    request(cluster.kube, namespace, "second", "seq-1", mode="Flow", task="c")
    pending = wait_request(cluster, namespace, "second", "Pending", *ENDED)
    assert pending["status"]["phase"] == "Pending"
    assert "earlier recovery" in pending["status"]["message"]
    assert wait_request(cluster, namespace, "second", *ENDED)["status"]["phase"] == "Succeeded"
    assert wait_request(cluster, namespace, "first", *ENDED)["status"]["phase"] == "Succeeded"
    wait_phase(cluster.kube, namespace, "seq-1", "Succeeded")


# --- audit ----------------------------------------------------------------------------------


def test_a_requester_claimed_at_create_is_never_trusted(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    create(
        cluster.kube,
        namespace,
        {
            "apiVersion": WF,
            "kind": "Workflow",
            "metadata": {"name": "seq"},
            "spec": {
                "taskDefaults": {"image": "python:3.12-slim"},
                "tasks": [{"name": "a", "command": emit("a")}],
            },
        },
    )
    forged = {"headway.dev/recover": "at-birth", "headway.dev/recover-requested-by": "mallory"}
    created = create(
        cluster.kube,
        namespace,
        {
            "apiVersion": WF,
            "kind": "Execution",
            "metadata": {"name": "seq-1", "annotations": forged},
            "spec": {"workflowRef": {"name": "seq"}},
        },
    )
    assert created["metadata"]["uid"]
    wait_token(cluster, namespace, "seq-1", "at-birth")
    history = status_of(cluster, namespace)["history"]
    [entry] = [h for h in history if h["event"] == "RecoveryRejected"]
    assert "by" not in entry
    assert "admission webhook" in entry["message"]
    assert "mallory" not in str(history)


ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def test_without_the_identity_webhook_a_claimed_requester_is_never_trusted(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "seq", chain())
    mutating = f"{ADMISSION}/mutatingwebhookconfigurations/{operator.configuration}"
    cluster.kube.delete(mutating)
    try:
        wait_for(lambda: cluster.kube.find(mutating) is None, "the mutating webhooks to go")
        cluster.kube.create(
            path_of(WF, "recoveryrequests", namespace),
            {
                "apiVersion": WF,
                "kind": "RecoveryRequest",
                "metadata": {
                    "name": "forged",
                    "annotations": {"headway.dev/requested-by": "alice"},
                },
                "spec": {"executionRef": {"name": "seq-1"}, "mode": "Flow"},
            },
        )
        rejected = wait_request(cluster, namespace, "forged", *ENDED)
        assert rejected["status"]["phase"] == "Rejected"
        assert "admission webhook" in rejected["status"]["message"]
        assert "requestedBy" not in rejected["status"]
        assert sorted(job_uids(cluster, namespace, "seq-1")) == [
            "seq-1-a-1",
            "seq-1-b-1",
        ]
    finally:
        operator.start()  # the chart's configuration again (and its CA from the operator)
    assert cluster.kube.find(mutating) is not None
