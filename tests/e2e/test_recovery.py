"""Recovery end to end: annotation, RecoveryRequests (Flow, Step, ProvideOutputs),
automatic stall recovery, exactly-once application, identity and permission."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from typing import Any

import pytest

from headway.shell.kube import KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import (
    OUT,
    RECOVERER,
    WF,
    Cluster,
    annotate,
    apply_example,
    bind,
    create,
    emit,
    execution,
    failing_run,
    gate,
    gated,
    grant,
    job_uids,
    jobs_of,
    request,
    start,
    wait_events,
    wait_for,
    wait_phase,
    wait_request,
    wait_token,
    workflow,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]


def test_recover_annotation_reruns_the_failed_task_and_successors_only(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failed = failing_run(
        cluster,
        namespace,
        "chain",
        [
            {"name": "a", "command": emit("a")},
            {"name": "b", "dependencies": ["a"], "command": emit("b")},
            {
                "name": "c",
                "dependencies": ["b"],
                **{k: v for k, v in gated("c").items() if k != "name"},
            },
            {
                "name": "d",
                "dependencies": ["c"],
                "command": ["sh", "-c", f'echo "$HEADWAY_INPUTS" > {OUT}'],
            },
        ],
    )
    kept = {n: failed["status"]["tasks"][n] for n in ("a", "b")}
    before = job_uids(cluster, namespace, "chain-1")
    assert sorted(before) == ["chain-1-a-1", "chain-1-b-1", "chain-1-c-1"]

    gate(cluster, namespace, "open")
    token = str(time.time())
    annotate(cluster.kube, namespace, "chain-1", token)
    wait_token(cluster, namespace, "chain-1", token)

    done = wait_phase(cluster.kube, namespace, "chain-1", "Succeeded", "Failed", "Blocked")
    status = done["status"]
    assert status["phase"] == "Succeeded"
    after = job_uids(cluster, namespace, "chain-1")
    assert {n: after[n] for n in ("chain-1-a-1", "chain-1-b-1")} == {
        n: before[n] for n in ("chain-1-a-1", "chain-1-b-1")
    }
    assert sorted(after) == [
        "chain-1-a-1",
        "chain-1-b-1",
        "chain-1-c-1",
        "chain-1-c-2",
        "chain-1-d-1",
    ]
    for name in ("a", "b"):
        assert status["tasks"][name]["outputs"] == kept[name]["outputs"]
        assert status["tasks"][name]["attempts"] == 1
    assert status["tasks"]["c"]["attempts"] == 2
    assert status["tasks"]["d"]["outputs"] == {"c": {"from": "c"}}
    retriggered = [h for h in status["history"] if h["event"] == "Retriggered"]
    assert [(h["task"], h["by"]) for h in retriggered] == [("c", "headway-admin")]
    assert status["recovery"]["lastToken"]


def test_flow_request_on_a_failed_diamond_branch_reruns_that_branch_and_the_join(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(
        cluster,
        namespace,
        "diamond",
        [
            {"name": "start", "command": emit("start")},
            {"name": "left", "dependencies": ["start"], "command": emit("left")},
            {"dependencies": ["start"], **gated("right")},
            {"name": "join", "dependencies": ["left", "right"], "command": emit("join")},
        ],
    )
    before = job_uids(cluster, namespace, "diamond-1")
    gate(cluster, namespace, "open")

    request(cluster.kube, namespace, "fix-right", "diamond-1", mode="Flow", task="right")

    done = wait_request(cluster, namespace, "fix-right", "Succeeded", "Failed", "Rejected")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["status"]["tasks"] == ["right", "join"]
    assert wait_phase(cluster.kube, namespace, "diamond-1", "Succeeded")
    after = job_uids(cluster, namespace, "diamond-1")
    assert {n: after[n] for n in ("diamond-1-start-1", "diamond-1-left-1")} == {
        n: before[n] for n in ("diamond-1-start-1", "diamond-1-left-1")
    }
    assert sorted(after) == sorted([*before, "diamond-1-right-2", "diamond-1-join-1"])


@pytest.mark.parametrize("update_phase", [False, True])
def test_step_reruns_only_the_named_task(
    cluster: Cluster, operator: ChartOperator, namespace: str, update_phase: bool
) -> None:
    failing_run(
        cluster,
        namespace,
        "steps",
        [
            {"name": "a", "command": emit("a")},
            {"dependencies": ["a"], **gated("b")},
            {"name": "c", "dependencies": ["b"], "command": emit("c")},
        ],
    )
    gate(cluster, namespace, "open")

    request(
        cluster.kube,
        namespace,
        "step-b",
        "steps-1",
        mode="Step",
        task="b",
        updateExecutionPhase=update_phase,
    )

    done = wait_request(cluster, namespace, "step-b", "Succeeded", "Failed", "Rejected")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    status = wait_for(
        lambda: (
            (s := execution(cluster.kube, namespace, "steps-1")["status"])["tasks"]["b"]["phase"]
            == "Succeeded"
            and s
        ),
        "b to succeed",
    )
    assert status["tasks"]["b"]["attempts"] == 2
    assert status["tasks"]["c"]["phase"] == "Pending"
    assert "steps-1-c-1" not in job_uids(cluster, namespace, "steps-1")
    # The phase follows the step only when asked to.
    expected = "Paused" if update_phase else "Failed"
    assert wait_for(
        lambda: execution(cluster.kube, namespace, "steps-1")["status"]["phase"] == expected,
        f"phase {expected}",
    )
    assert "steps-1-c-1" not in job_uids(cluster, namespace, "steps-1")


def test_provide_outputs_unblocks_a_blocked_task_and_the_flow_continues(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(
        cluster,
        namespace,
        "provide",
        [
            {"name": "fetch", "image": "registry.invalid/fetcher:1", "command": emit("fetch")},
            {
                "name": "use",
                "dependencies": ["fetch"],
                "command": [
                    "sh",
                    "-c",
                    'echo "{\\"got\\": {{ tasks.fetch.outputs.n }}, \\"inputs\\": $HEADWAY_INPUTS}"'
                    f" > {OUT}",
                ],
            },
        ],
        autoRecovery={"maxAttempts": 1, "stallTimeoutSeconds": 2},
    )
    blocked = wait_phase(cluster.kube, namespace, "provide-1", "Blocked", "Failed", "Succeeded")
    assert blocked["status"]["phase"] == "Blocked"
    assert blocked["status"]["tasks"]["fetch"]["phase"] == "Blocked"

    request(
        cluster.kube,
        namespace,
        "give",
        "provide-1",
        mode="ProvideOutputs",
        task="fetch",
        outputs={"n": 7},
    )

    assert (
        wait_request(cluster, namespace, "give", "Succeeded", "Rejected")["status"]["phase"]
        == "Succeeded"
    )
    done = wait_phase(cluster.kube, namespace, "provide-1", "Succeeded", "Failed")
    fetch = done["status"]["tasks"]["fetch"]
    assert (done["status"]["phase"], fetch["outputs"], fetch["outputsSource"]) == (
        "Succeeded",
        {"n": 7},
        "Provided",
    )
    assert done["status"]["tasks"]["use"]["outputs"] == {"got": 7, "inputs": {"fetch": {"n": 7}}}

    request(
        cluster.kube,
        namespace,
        "give-again",
        "provide-1",
        mode="ProvideOutputs",
        task="fetch",
        outputs={"n": 8},
    )
    rejected = wait_request(cluster, namespace, "give-again", "Rejected", "Succeeded")
    assert rejected["status"]["phase"] == "Rejected"
    assert (
        "is Succeeded: ProvideOutputs applies only to a Failed, Blocked or Stopped task"
        in rejected["status"]["message"]
    )


def test_provide_outputs_on_a_running_task_is_rejected(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(cluster, namespace, "busy", [{"name": "slow", "command": ["sleep", "600"]}])
    wait_for(lambda: "busy-1-slow-1" in job_uids(cluster, namespace, "busy-1"), "slow to start")

    request(
        cluster.kube,
        namespace,
        "too-soon",
        "busy-1",
        mode="ProvideOutputs",
        task="slow",
        outputs={},
    )

    rejected = wait_request(cluster, namespace, "too-soon", "Rejected", "Succeeded")
    assert 'task "slow" is Running' in rejected["status"]["message"]
    assert (
        execution(cluster.kube, namespace, "busy-1")["status"]["tasks"]["slow"]["phase"]
        == "Running"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"executionRef": {"name": "ghost"}, "mode": "Flow"}, 'execution "ghost" not found'),
        (
            {"executionRef": {"name": "ok-1"}, "mode": "Flow", "task": "nope"},
            'task "nope" does not exist',
        ),
        (
            {"executionRef": {"name": "ok-1"}, "mode": "Flow"},
            "no Failed, Blocked, Stopped or held task to recover",
        ),
    ],
)
def test_requests_that_cannot_apply_are_rejected_with_a_reason(
    cluster: Cluster, operator: ChartOperator, namespace: str, spec: JSON, message: str
) -> None:
    start(cluster, namespace, "ok", [{"name": "a", "command": emit("a")}])
    wait_phase(cluster.kube, namespace, "ok-1", "Succeeded")
    cluster.kube.create(
        path_of(WF, "recoveryrequests", namespace),
        {"apiVersion": WF, "kind": "RecoveryRequest", "metadata": {"name": "r"}, "spec": spec},
    )
    rejected = wait_request(cluster, namespace, "r", "Rejected", "Applied", "Succeeded")
    assert rejected["status"]["phase"] == "Rejected"
    assert message in rejected["status"]["message"]
    assert len(jobs_of(cluster.kube, namespace, "ok-1")) == 1


def test_image_pull_failure_is_retried_five_times_then_blocked(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(
        cluster,
        namespace,
        "pull",
        [{"name": "get", "image": "registry.invalid/missing:1", "command": ["true"]}],
        autoRecovery={"stallTimeoutSeconds": 2},
    )

    done = wait_phase(
        cluster.kube, namespace, "pull-1", "Blocked", "Failed", "Succeeded", timeout=240
    )

    task = done["status"]["tasks"]["get"]
    assert (done["status"]["phase"], task["phase"], task["reason"]) == (
        "Blocked",
        "Blocked",
        "Stalled",
    )
    assert (task["attempts"], task["autoRecoveries"]) == (6, 5)
    assert "ErrImagePull" in task["message"] or "ImagePullBackOff" in task["message"]
    recovered = [h for h in done["status"]["history"] if h["event"] == "AutoRecovered"]
    assert len(recovered) == 5
    # Each stalled attempt's Job (and its stuck pod) is removed; the status keeps the reason.
    wait_for(lambda: not job_uids(cluster, namespace, "pull-1"), "the stalled Jobs to be removed")


def test_pod_on_a_lost_node_is_replaced_automatically(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    if not cluster.local:
        pytest.fail(
            "losing a node needs the local cluster's fault injection; unset HEADWAY_TEST_KUBECONFIG"
        )
    start(
        cluster,
        namespace,
        "lost",
        [{"name": "work", "command": ["sh", "-c", f'sleep 8; echo "{{}}" > {OUT}']}],
    )

    def pod_node() -> str | None:
        pods = cluster.kube.get(
            path_of("v1", "pods", namespace), labelSelector="job-name=lost-1-work-1"
        )["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running[0]["spec"]["nodeName"] if running else None

    node = wait_for(pod_node, "the first attempt to run")
    cluster.faults.lose_node(node)
    try:
        done = wait_phase(
            cluster.kube, namespace, "lost-1", "Succeeded", "Failed", "Blocked", timeout=240
        )
    finally:
        cluster.faults.restore_node(node)
    task = done["status"]["tasks"]["work"]
    assert (done["status"]["phase"], task["attempts"], task["autoRecoveries"]) == (
        "Succeeded",
        2,
        1,
    )
    stalls = [h["message"] for h in done["status"]["history"] if h["event"] == "AutoRecovered"]
    assert len(stalls) == 1 and "lost-1-work-1" in stalls[0]
    replacement = cluster.kube.get(
        path_of("v1", "pods", namespace), labelSelector="job-name=lost-1-work-2"
    )["items"]
    assert replacement[0]["spec"]["nodeName"] != node


def test_a_request_is_applied_exactly_once_across_an_operator_kill(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(
        cluster,
        namespace,
        "once",
        [
            {"name": "a", "command": emit("a")},
            {
                "dependencies": ["a"],
                "name": "b",
                "command": ["sh", "-c", f'test "$GATE" = open && sleep 3 && echo "{{}}" > {OUT}'],
                "env": [
                    {
                        "name": "GATE",
                        "valueFrom": {"configMapKeyRef": {"name": "gate", "key": "state"}},
                    }
                ],
            },
        ],
    )
    gate(cluster, namespace, "open")

    request(cluster.kube, namespace, "retry-b", "once-1", mode="Flow", task="b")
    wait_request(cluster, namespace, "retry-b", "Applied", "Succeeded")
    operator.kill()
    operator.start()

    done = wait_request(cluster, namespace, "retry-b", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded"
    status = wait_phase(cluster.kube, namespace, "once-1", "Succeeded")["status"]
    applied = [h for h in status["history"] if h.get("request") == "retry-b"]
    assert len(applied) == 1
    assert sorted(job_uids(cluster, namespace, "once-1")) == [
        "once-1-a-1",
        "once-1-b-1",
        "once-1-b-2",
    ]


def test_operator_killed_before_it_saw_a_request_applies_it_once_on_restart(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "late", [gated("a")])
    gate(cluster, namespace, "open")

    request(cluster.kube, namespace, "fix", "late-1", mode="Flow")
    operator.kill()  # most likely before the request was applied; possibly after
    operator.start()

    assert (
        wait_request(cluster, namespace, "fix", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )
    status = wait_phase(cluster.kube, namespace, "late-1", "Succeeded")["status"]
    assert len([h for h in status["history"] if h.get("request") == "fix"]) == 1
    assert sorted(job_uids(cluster, namespace, "late-1")) == ["late-1-a-1", "late-1-a-2"]


def test_a_request_named_by_generate_name_is_audited_and_applied(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """``kubectl create`` with generateName, as CI pipelines do: the API server names the
    request only after admission, and the recorded requester must still verify."""
    failing_run(cluster, namespace, "gen", [gated("a")])
    grant(cluster, namespace, "alice", *RECOVERER)
    gate(cluster, namespace, "open")
    created = cluster.as_user("alice").create(
        path_of(WF, "recoveryrequests", namespace),
        {
            "apiVersion": WF,
            "kind": "RecoveryRequest",
            "metadata": {"generateName": "gen-fix-"},
            "spec": {"executionRef": {"name": "gen-1"}, "mode": "Flow"},
        },
    )
    name = created["metadata"]["name"]
    assert name.startswith("gen-fix-") and len(name) > len("gen-fix-")
    done = wait_request(cluster, namespace, name, "Succeeded", "Failed", "Rejected")
    assert (done["status"]["phase"], done["status"]["requestedBy"]) == ("Succeeded", "alice")


def test_requested_by_is_the_authenticated_user_and_permission_is_enforced_both_ways(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "auth", [gated("a")])
    alice, bob = cluster.as_user("alice"), cluster.as_user("bob")
    grant(cluster, namespace, "alice", *RECOVERER)
    grant(cluster, namespace, "bob", "headway-run")

    # bob may not create requests (Kubernetes RBAC) ...
    with pytest.raises(KubeError) as refused:
        request(bob, namespace, "by-bob", "auth-1", mode="Flow")
    assert refused.value.status == 403
    # ... nor recover by annotation, though he may patch executions (SubjectAccessReview).
    with pytest.raises(KubeError) as refused_annotation:
        annotate(bob, namespace, "auth-1", "bob-1")
    assert refused_annotation.value.status == 403
    assert 'user "bob" may not recover executions' in str(refused_annotation.value)
    assert "headway.dev/recover" not in (
        execution(cluster.kube, namespace, "auth-1")["metadata"].get("annotations") or {}
    )

    gate(cluster, namespace, "open")
    # alice may; a requested-by she writes herself is overwritten with who she really is.
    body = {
        "apiVersion": WF,
        "kind": "RecoveryRequest",
        "metadata": {"name": "by-alice", "annotations": {"headway.dev/requested-by": "mallory"}},
        "spec": {"executionRef": {"name": "auth-1"}, "mode": "Flow"},
    }
    alice.create(path_of(WF, "recoveryrequests", namespace), body)
    done = wait_request(cluster, namespace, "by-alice", "Succeeded", "Failed", "Rejected")
    assert (done["status"]["phase"], done["status"]["requestedBy"]) == ("Succeeded", "alice")
    status = wait_phase(cluster.kube, namespace, "auth-1", "Succeeded")["status"]
    entry = next(h for h in status["history"] if h.get("request") == "by-alice")
    assert entry["by"] == "alice"
    wait_events(
        cluster.kube,
        namespace,
        lambda found: any(e["reason"] == "Recovery" and "by alice" in e["message"] for e in found),
        "auth-1",
    )

    # The annotation path records who set it, too.
    failing_run(cluster, namespace, "auth2", [gated("a")])
    gate(cluster, namespace, "open")
    annotate(alice, namespace, "auth2-1", "alice-1")
    wait_token(cluster, namespace, "auth2-1", "alice-1")
    status = wait_phase(cluster.kube, namespace, "auth2-1", "Succeeded")["status"]
    assert [h["by"] for h in status["history"] if h["event"] == "Retriggered"] == ["alice"]
    annotations = execution(cluster.kube, namespace, "auth2-1")["metadata"]["annotations"]
    assert annotations["headway.dev/recover-requested-by"] == "alice"


def test_rest_post_with_a_service_account_token_creates_an_audited_request(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """The Kubernetes API is the REST API: plain HTTPS, a bearer token, JSON."""
    failing_run(cluster, namespace, "rest", [gated("a")])
    gate(cluster, namespace, "open")
    cluster.kube.create(
        path_of("v1", "serviceaccounts", namespace), {"metadata": {"name": "pipeline-bot"}}
    )
    bot = {"kind": "ServiceAccount", "name": "pipeline-bot", "namespace": namespace}
    bind(cluster.kube, namespace, "pipeline-bot", ("ClusterRole", "headway-recover"), bot)
    token = cluster.kube.create(
        path_of("v1", "serviceaccounts", namespace, "pipeline-bot") + "/token",
        {"spec": {"expirationSeconds": 600}},
    )["status"]["token"]
    body = json.dumps(
        {
            "apiVersion": WF,
            "kind": "RecoveryRequest",
            "metadata": {"name": "from-ci"},
            "spec": {"executionRef": {"name": "rest-1"}, "mode": "Flow"},
        }
    ).encode()
    url = f"{cluster.kube.host}/apis/headway.dev/v1alpha1/namespaces/{namespace}/recoveryrequests"
    ca = cluster.kube.api.configuration.ssl_ca_cert
    post = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(post, context=ssl.create_default_context(cafile=ca)) as response:
        assert response.status == 201

    done = wait_request(cluster, namespace, "from-ci", "Succeeded", "Failed", "Rejected")
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["requestedBy"] == f"system:serviceaccount:{namespace}:pipeline-bot"


def test_recovery_example_reruns_validate_and_publish_only(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    apply_example(cluster.kube, namespace, "recovery")
    failed = wait_phase(cluster.kube, namespace, "report-nightly", "Failed", "Succeeded")
    assert failed["status"]["tasks"]["validate"]["phase"] == "Failed"
    cluster.kube.patch(
        path_of("v1", "configmaps", namespace, "report-settings"), {"data": {"currency": "EUR"}}
    )

    apply_example(cluster.kube, namespace, "recovery-request")

    assert (
        wait_request(cluster, namespace, "fix-currency", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )
    done = wait_phase(cluster.kube, namespace, "report-nightly", "Succeeded")["status"]
    assert done["tasks"]["extract"] == failed["status"]["tasks"]["extract"]
    assert done["tasks"]["publish"]["outputs"] == {"published": "1250 orders in EUR"}


def test_while_the_operator_is_stopped_recoveries_are_refused_not_unaudited(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "down", [gated("a")])
    create(cluster.kube, namespace, workflow("meanwhile", [{"name": "a", "command": emit("a")}]))
    operator.stop()  # a clean stop: kopf removes its webhooks, except the persistent ones
    try:
        with pytest.raises(KubeError) as refused_request:
            request(cluster.kube, namespace, "while-down", "down-1", mode="Flow")
        with pytest.raises(KubeError) as refused_annotation:
            annotate(cluster.kube, namespace, "down-1", "while-down")
        for refused in (refused_request, refused_annotation):
            assert "failed calling webhook" in str(refused.value)
        # Running work is not held hostage: new Executions of a Workflow are still
        # accepted (defining a Workflow waits for the webhook that checks its definer).
        create(cluster.kube, namespace, {
            "apiVersion": WF, "kind": "Execution", "metadata": {"name": "meanwhile-1"},
            "spec": {"workflowRef": {"name": "meanwhile"}},
        })  # fmt: skip
    finally:
        operator.start()
    assert wait_phase(cluster.kube, namespace, "meanwhile-1", "Succeeded")
    assert (
        execution(cluster.kube, namespace, "down-1")["status"]["recovery"].get("lastToken") is None
    )
