"""The chart, rendered by helm and read back: lint clean, values checked by the schema,
least-privilege RBAC exactly as documented, webhooks that reach the operator's handlers
and fail closed only where they guard identity, CRDs kept on uninstall, cert-manager
as an alternative. (The e2e tests install it.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers_source import kopf_handlers
from localcluster import chart

JSON = dict[str, Any]
KUBE_VERSION = "1.36.3"


def render(*args: str) -> list[JSON]:
    out = subprocess.run(
        [str(chart.helm_binary()), "template", "headway", str(chart.CHART),
         "--namespace", "headway-system", "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def helm_fails(*args: str) -> str:
    done = subprocess.run(
        [str(chart.helm_binary()), "template", "headway", str(chart.CHART),
         "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0, "helm accepted what the schema should refuse"
    return done.stderr


def one(docs: list[JSON], kind: str, name: str | None = None) -> JSON:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def docs() -> list[JSON]:
    return render()


def test_helm_lint_is_clean() -> None:
    done = subprocess.run(
        [str(chart.helm_binary()), "lint", "--strict", str(chart.CHART),
         "--kube-version", KUBE_VERSION],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_refuses_bad_values() -> None:
    assert "replicaCount" in helm_fails("--set", "replicaCount=0")
    assert "nonsense" in helm_fails("--set", "nonsense=1")
    assert "pullPolicy" in helm_fails("--set", "image.pullPolicy=Sometimes")


def test_operator_rbac_is_exactly_the_documented_table(docs: list[JSON]) -> None:
    cluster_rules = one(docs, "ClusterRole", "headway-operator")["rules"]
    table = {
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r.get("resourceNames", ()))): sorted(
            r["verbs"]
        )
        for r in cluster_rules
    }
    assert table == {
        (("headway.dev",), ("workflows", "executions", "recoveryrequests"), ()): [
            "get", "list", "watch",
        ],
        (("headway.dev",), ("outputpages",), ()): ["create", "get", "list", "patch", "watch"],
        (("headway.dev",), ("executions",), ()): ["create", "delete", "patch"],
        (("headway.dev",), ("schedules",), ()): ["get", "list", "watch"],
        (("headway.dev",), ("schedules/status",), ()): ["update"],
        (("headway.dev",), ("workflows/status", "recoveryrequests/status"), ()): ["update"],
        (("headway.dev",), ("executions/status",), ()): ["patch"],
        (("batch",), ("jobs",), ()): ["create", "delete", "get", "list", "watch"],
        (("",), ("pods",), ()): ["list", "watch"],
        (("",), ("events",), ()): ["create"],
        (("authorization.k8s.io",), ("subjectaccessreviews",), ()): ["create"],
        (
            ("admissionregistration.k8s.io",),
            ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"),
            ("headway",),
        ): ["get", "update"],
    }  # fmt: skip
    own = one(docs, "Role", "headway-operator")["rules"]
    own_table = {
        (r["resources"][0], tuple(r.get("resourceNames", ())), tuple(r["verbs"])) for r in own
    }
    assert own_table == {
        ("leases", (), ("create",)),
        ("leases", ("headway-operator",), ("get", "update")),
        ("secrets", ("headway-audit", "headway-webhook-tls"), ("get", "update")),
    }  # fmt: skip
    for rule in cluster_rules + own:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def test_webhooks_reach_the_operators_handlers(docs: list[JSON]) -> None:
    webhooks = ("kopf.on.validate", "kopf.on.mutate")
    registered = {h.id for h in kopf_handlers() if h.decorator in webhooks}
    assert len(registered) == len([h for h in kopf_handlers() if h.decorator in webhooks])
    hooks = [
        *one(docs, "ValidatingWebhookConfiguration")["webhooks"],
        *one(docs, "MutatingWebhookConfiguration")["webhooks"],
    ]
    paths = {h["clientConfig"]["service"]["path"].lstrip("/") for h in hooks}
    assert paths == registered
    for hook in hooks:
        service = hook["clientConfig"]["service"]
        assert (service["name"], service["namespace"], service["port"]) == (
            "headway-webhook", "headway-system", 443,
        )  # fmt: skip


def test_only_the_identity_webhooks_fail_closed_and_only_on_what_they_guard(
    docs: list[JSON],
) -> None:
    hooks = [
        *one(docs, "ValidatingWebhookConfiguration")["webhooks"],
        *one(docs, "MutatingWebhookConfiguration")["webhooks"],
    ]
    closed = {h["name"]: h for h in hooks if h["failurePolicy"] == "Fail"}
    assert sorted(closed) == [
        "record-definer-execution.headway.dev",
        "record-definer-workflow.headway.dev",
        "record-recoverer.headway.dev",
        "record-requester.headway.dev",
        "recover-permission.headway.dev",
        "validate-schedule.headway.dev",  # its author may create Executions
    ]
    for hook in closed.values():
        [condition] = hook["matchConditions"]
        guarded = ("headway.dev/recover", "CREATE", "spec")
        assert any(word in condition["expression"] for word in guarded)
        assert "labels" not in condition["expression"]
    # An Execution of a named Workflow never waits for the operator: the definer webhook
    # is called only for an inline workflow or a definer record.
    definer = closed["record-definer-execution.headway.dev"]["matchConditions"][0]["expression"]
    inline = "(has(object.spec) && has(object.spec.workflow))"
    assert definer.startswith(f"request.operation == 'CREATE' ? ({inline} || (has(object.metadata")
    assert "workflowRef" not in definer
    requester = closed["record-requester.headway.dev"]["matchConditions"][0]["expression"]
    assert requester.startswith("request.operation == 'CREATE' || ")


def test_crds_are_installed_and_kept_on_uninstall(docs: list[JSON]) -> None:
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "executions.headway.dev", "outputpages.headway.dev", "recoveryrequests.headway.dev",
        "schedules.headway.dev", "workflows.headway.dev",
    ]  # fmt: skip
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [
        d for d in render("--set", "crds.install=false") if d["kind"] == "CustomResourceDefinition"
    ]


def test_deployment_runs_two_replicas_with_leader_election_probes_and_metrics(
    docs: list[JSON],
) -> None:
    deployment = one(docs, "Deployment", "headway-operator")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert "--leader-election-lease=headway-operator" in args
    assert "--metrics-port=8080" in args and "--webhook-port=9443" in args
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    local = one(render("--set", "operator.bindToPodIP=true"), "Deployment", "headway-operator")
    local_args = local["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--webhook-bind=$(POD_IP)" in local_args
    single = render("--set", "replicaCount=1", "--set", "operator.leaderElection.enabled=false")
    assert not [d for d in single if d["kind"] == "PodDisruptionBudget"]
    assert not any(
        "--leader-election" in a
        for a in one(single, "Deployment", "headway-operator")["spec"]["template"]["spec"][
            "containers"
        ][0]["args"]
    )


def test_cert_manager_owns_tls_when_enabled() -> None:
    docs = render(
        "--set", "certManager.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"
    )
    certificate = one(docs, "Certificate")
    assert certificate["spec"]["secretName"] == "headway-webhook-tls"
    assert "headway-webhook.headway-system.svc" in certificate["spec"]["dnsNames"]
    assert one(docs, "Issuer")["spec"] == {"selfSigned": {}}
    validating = one(docs, "ValidatingWebhookConfiguration")
    assert validating["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        "headway-system/headway"
    )
    assert [s["metadata"]["name"] for s in docs if s["kind"] == "Secret"] == ["headway-audit"]
    assert (
        "--cert-manager"
        in one(docs, "Deployment", "headway-operator")["spec"]["template"]["spec"]["containers"][0][
            "args"
        ]
    )
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"


def test_helm_test_submits_an_execution_with_its_own_narrow_account(docs: list[JSON]) -> None:
    pod = one(docs, "Pod", "headway-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["args"][0] == "selftest"
    role = one(docs, "Role", "headway-test")
    assert role["rules"] == [
        {"apiGroups": ["headway.dev"], "resources": ["workflows", "executions"],
         "verbs": ["get", "create", "delete"]},
        # Defining its Workflow is defining what runs.
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
    ]  # fmt: skip


def rules_of(docs: list[JSON], role: str) -> set[tuple[str, str, str]]:
    """(group, resource, verb) for every grant of the ClusterRole ``role``."""
    return {
        (group, resource, verb)
        for rule in one(docs, "ClusterRole", role)["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_roles_for_people_are_those_of_design_section_11(docs: list[JSON]) -> None:
    view = rules_of(docs, "headway-view")
    for resource in ("workflows", "executions", "recoveryrequests"):
        assert ("headway.dev", resource, "list") in view
    assert {("batch", "jobs", "get"), ("", "pods", "list"), ("", "pods/log", "get")} <= view
    assert {verb for _, _, verb in view} == {"get", "list", "watch"}
    run = rules_of(docs, "headway-run")
    assert ("headway.dev", "executions", "create") in run
    assert ("headway.dev", "workflows", "create") not in run
    assert {group for group, _, _ in run} == {"headway.dev"}
    edit = rules_of(docs, "headway-edit")
    assert ("headway.dev", "workflows", "create") in edit
    # Headway's objects only: defining pods also takes create jobs, from elsewhere.
    assert {group for group, _, _ in edit} == {"headway.dev"}
    recover = rules_of(docs, "headway-recover")
    assert ("headway.dev", "recoveryrequests", "create") in recover
    assert ("headway.dev", "executions", "create") not in recover


def test_the_chart_names_no_file_outside_itself() -> None:
    for path in Path(chart.CHART).rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".tpl"):
            assert "../" not in path.read_text(), path


def test_the_console_has_no_rights_of_its_own(docs: list[JSON]) -> None:
    account = one(docs, "ServiceAccount", "headway-console")
    assert account["automountServiceAccountToken"] is False
    pod = one(docs, "Deployment", "headway-console")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    bound = [
        s["name"]
        for d in docs
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for s in d["subjects"]
    ]
    assert "headway-console" not in bound
    assert one(docs, "Service", "headway-console")["spec"]["ports"][0]["port"] == 8080
    assert not [
        d for d in render("--set", "console.enabled=false") if "console" in d["metadata"]["name"]
    ]
