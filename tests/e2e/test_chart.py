"""Headway as the chart installs it: two Ready replicas and a passing ``helm test``; the
in-cluster webhooks recording who recovers (and refusing who may not); the leader pod
deleted mid-run; the metrics moving; and ``helm uninstall`` leaving CRDs and Executions
behind with no webhook in the way. The uninstall test runs last and installs again."""

from __future__ import annotations

import collections
import datetime
from typing import Any

import pytest

from headway.shell.kube import Kube, KubeError, path_of
from localcluster import chart
from localcluster.chart_operator import ChartOperator
from support import (
    OUT,
    RECOVERER,
    WF,
    Cluster,
    create,
    execution,
    failing_run,
    gate,
    gated,
    grant,
    jobs_of,
    request,
    start,
    wait_for,
    wait_phase,
    wait_request,
    workflow,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
LEASE = path_of("coordination.k8s.io/v1", "leases", chart.NAMESPACE, "headway-operator")


def test_install_gives_two_ready_replicas_and_helm_test_passes(
    cluster: Cluster, operator: ChartOperator
) -> None:
    # After an upgrade (e.g. `make demo` then `make test`) the old replicas go and a new
    # one takes the Lease a moment later: wait for the two of this release, one leading.
    def settled() -> list[JSON] | None:
        ready = operator.ready_pods()
        holder = cluster.kube.get(LEASE)["spec"].get("holderIdentity")
        names = {p["metadata"]["name"] for p in ready}
        return ready if len(ready) == 2 and holder in names else None

    ready = wait_for(settled, "two Ready replicas, one of them holding the Lease", 120)
    assert len({p["metadata"]["labels"]["pod-template-hash"] for p in ready}) == 1
    out = chart.helm(
        cluster.kubeconfig, "test", chart.RELEASE, "--namespace", chart.NAMESPACE,
        "--timeout", "180s",
    )  # fmt: skip
    assert "Phase:          Succeeded" in out, out


def test_recovery_by_alice_through_the_in_cluster_webhooks_bob_refused(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    failing_run(cluster, namespace, "hook", [gated("a")])
    grant(cluster, namespace, "alice", *RECOVERER)
    try:
        request(cluster.as_user("bob"), namespace, "by-bob", "hook-1", mode="Flow")
        raise AssertionError("bob created a RecoveryRequest")
    except KubeError as error:
        assert error.status == 403, error
    gate(cluster, namespace, "open")
    request(cluster.as_user("alice"), namespace, "by-alice", "hook-1", mode="Flow")
    done = wait_request(cluster, namespace, "by-alice", "Succeeded", "Failed", "Rejected")
    assert (done["status"]["phase"], done["status"]["requestedBy"]) == ("Succeeded", "alice")
    assert execution(cluster.kube, namespace, "hook-1")["status"]["phase"] == "Succeeded"


def leader_pod(cluster: Cluster) -> str:
    return str(cluster.kube.get(LEASE)["spec"].get("holderIdentity") or "")


def test_leader_pod_deleted_mid_run_the_other_replica_finishes_it(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    chain = [
        {
            "name": f"t{i}",
            "dependencies": [f"t{i - 1}"] if i else [],
            "command": ["sh", "-c", f'sleep 2; echo "{{\\"i\\": {i}}}" > {OUT}'],
        }
        for i in range(4)
    ]
    start(cluster, namespace, "ha", chain)
    wait_for(lambda: len(jobs_of(cluster.kube, namespace, "ha-1")) >= 2, "the second task to start")
    old = leader_pod(cluster)
    operator.keep_logs()
    cluster.kube.delete(path_of("v1", "pods", chart.NAMESPACE, old), gracePeriodSeconds=0)
    wait_for(lambda: leader_pod(cluster) not in ("", old, "None"), "another replica to lead", 60)
    done = wait_phase(cluster.kube, namespace, "ha-1", "Succeeded", "Failed", timeout=300)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    per_task = collections.Counter(
        j["metadata"]["labels"]["headway.dev/task"]
        for j in jobs_of(cluster.kube, namespace, "ha-1")
    )
    assert per_task == {f"t{i}": 1 for i in range(4)}
    assert [done["status"]["tasks"][f"t{i}"]["outputs"] for i in range(4)] == [
        {"i": i} for i in range(4)
    ]
    operator.start()  # both replicas again, for the tests after this one


def metrics(kube: Kube, pod: str) -> dict[str, float]:
    text = kube.get_text(path_of("v1", "pods", chart.NAMESPACE, f"{pod}:8080") + "/proxy/metrics")
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_move_during_a_run_and_the_service_proxy_reaches_them(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    leader = leader_pod(cluster)
    before = metrics(cluster.kube, leader)
    start(cluster, namespace, "counted", [{"name": "a", "command": ["true"]}])
    wait_phase(cluster.kube, namespace, "counted-1", "Succeeded")

    def moved() -> dict[str, float] | None:
        after = metrics(cluster.kube, leader)
        return after if after["headway_task_attempts_total"] > before.get(
            "headway_task_attempts_total", 0
        ) else None  # fmt: skip

    after = wait_for(moved, "the attempts counter to move")
    assert after["headway_reconcile_duration_seconds_count"] > before.get(
        "headway_reconcile_duration_seconds_count", 0
    )
    assert after["headway_leader"] == 1
    assert after[f'headway_executions{{namespace="{namespace}",phase="Succeeded"}}'] == 1
    service = path_of("v1", "services", chart.NAMESPACE, "headway-metrics:8080") + "/proxy"
    assert cluster.kube.get_text(f"{service}/healthz") == "ok\n"


def test_the_console_is_reachable_through_the_api_servers_service_proxy(
    cluster: Cluster, operator: ChartOperator
) -> None:
    """As `kubectl proxy` reaches it: the page, its script, and its API refusing anyone
    not signed in (the proxy's own credentials are not passed on as a sign-in)."""
    base = path_of("v1", "services", chart.NAMESPACE, "headway-console:8080") + "/proxy"
    page = cluster.kube.get_text(f"{base}/")
    assert "<title>Headway</title>" in page and "static/app.js" in page
    script = cluster.kube.get_text(f"{base}/static/app.js")
    assert len(script) > 10_000, "the bundled page (with its graph layout) is served"
    try:
        cluster.kube.get(f"{base}/api/whoami")
        raise AssertionError("the console answered without a sign-in")
    except KubeError as error:
        assert error.status == 401, error


def test_what_happened_while_no_replica_led_is_caught_up(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """Created while the operator is down: an Execution of a Workflow that does not exist
    (running a named Workflow never waits for the operator). Defining a Workflow does: it
    is refused, never admitted unchecked. The replicas that start see the Execution before
    either leads; the one that takes the Lease catches up."""
    operator.kill()
    try:
        with pytest.raises(KubeError) as refused:
            cluster.kube.create(path_of(WF, "workflows", namespace),
                                workflow("loop", [{"name": "a", "command": ["true"]}]))  # fmt: skip
        assert "record-definer-workflow.headway.dev" in str(refused.value)
        create(cluster.kube, namespace, {
            "apiVersion": WF, "kind": "Execution", "metadata": {"name": "orphan"},
            "spec": {"workflowRef": {"name": "missing"}},
        })  # fmt: skip
    finally:
        operator.start()

    def ready_false() -> JSON | None:
        found = cluster.kube.get(path_of(WF, "executions", namespace, "orphan"))
        conditions = (found.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["status"] == "False"), None)

    condition = wait_for(ready_false, "the Execution to be marked not Ready", 120)
    assert condition["message"] == 'Workflow "missing" not found'


def test_uninstall_keeps_crds_and_executions_and_blocks_nothing(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(cluster, namespace, "kept", [{"name": "a", "command": ["true"]}])
    wait_phase(cluster.kube, namespace, "kept-1", "Succeeded")
    operator.keep_logs()
    chart.uninstall(cluster.kubeconfig)
    try:
        for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
            path = path_of("admissionregistration.k8s.io/v1", plural, None, "headway")
            assert cluster.kube.find(path) is None, f"{plural}/headway left behind"
        crds = path_of("apiextensions.k8s.io/v1", "customresourcedefinitions")
        names = {c["metadata"]["name"] for c in cluster.kube.get(crds)["items"]}
        assert {"workflows.headway.dev", "executions.headway.dev"} <= names
        stamp = datetime.datetime.now(datetime.UTC).strftime("%H%M%S")
        cluster.kube.patch(
            path_of(WF, "executions", namespace, "kept-1"),
            {"metadata": {"labels": {"edited": stamp}}},
        )
        kept = execution(cluster.kube, namespace, "kept-1")
        assert kept["metadata"]["labels"]["edited"] == stamp
        assert kept["status"]["phase"] == "Succeeded"
    finally:
        operator.start()
