"""Who may define what runs (DESIGN.md section 11), against the chart-installed operator,
with the chart's roles: permission to create Headway objects never becomes permission to
run any pod; a path around the webhook runs nothing; values substituted into a shell
script are warned about, and the injection they allow is real while env is immune."""

from __future__ import annotations

import functools
import json
import subprocess
from typing import Any

import pytest

from headway.shell.kube import Kube, KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import (
    OUT,
    RECOVERER,
    WF,
    Cluster,
    bind,
    create,
    execution,
    gate,
    gated,
    grant,
    jobs_of,
    request,
    user_subject,
    wait_for,
    wait_phase,
    wait_request,
    with_definer_webhook,
    without_definer_webhook,
    workflow,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
MUTATING = "admissionregistration.k8s.io/v1"

PRIVILEGED_POD: JSON = {
    "hostPID": True,
    "initContainers": [
        {"name": "root", "image": "busybox", "command": ["true"],
         "securityContext": {"privileged": True}}
    ],
    "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
}  # fmt: skip


def privileged(name: str) -> JSON:
    return workflow(name, [{"name": "escape", "command": ["true"], "podTemplate": PRIVILEGED_POD}])


def as_deployer(name: str) -> JSON:
    return workflow(name, [{"name": "deploy", "serviceAccountName": "deployer",
                            "command": ["sh", "-c", f'echo "{{}}" > {OUT}']}])  # fmt: skip


def inline(name: str, spec: JSON) -> JSON:
    return {"apiVersion": WF, "kind": "Execution", "metadata": {"name": name},
            "spec": {"workflow": spec["spec"]}}  # fmt: skip


def by_ref(name: str, workflow_name: str) -> JSON:
    return {"apiVersion": WF, "kind": "Execution", "metadata": {"name": name},
            "spec": {"workflowRef": {"name": workflow_name}}}  # fmt: skip


def refused(kube: Kube, namespace: str, manifest: JSON) -> str:
    with pytest.raises(KubeError) as error:
        create(kube, namespace, manifest)
    assert error.value.status == 403, error.value
    return " ".join(error.value.message.split())


def namespace_role(cluster: Cluster, namespace: str, name: str, rules: list[JSON]) -> None:
    """A namespace owner's own grant (not a Headway role): what is being checked for."""
    cluster.kube.create(
        path_of("rbac.authorization.k8s.io/v1", "roles", namespace),
        {"metadata": {"name": name}, "rules": rules},
    )


def deployer_account(cluster: Cluster, namespace: str) -> None:
    """A service account bound to the namespace's admin role: worth borrowing."""
    cluster.kube.create(path_of("v1", "serviceaccounts", namespace),
                        {"metadata": {"name": "deployer"}})  # fmt: skip
    subject = {"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}
    bind(cluster.kube, namespace, "deployer-admin", ("ClusterRole", "admin"), subject)


def test_creating_headway_objects_never_runs_a_pod_or_an_account_one_may_not(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    deployer_account(cluster, namespace)
    # carol: the chart's headway-edit only (kubectl auth can-i create jobs: no).
    grant(cluster, namespace, "carol", "headway-edit")
    carol = cluster.as_user("carol")
    message = refused(carol, namespace, privileged("escape"))
    assert message.startswith(
        f'admission webhook "record-definer-workflow.headway.dev" denied the request: '
        f'user "carol" may not define what runs in namespace "{namespace}": defining what '
        f"runs creates its Jobs, which needs permission to create jobs.batch in namespace "
        f'"{namespace}" (ask for the namespace\'s "edit" role'
    ), message
    message = refused(carol, namespace, inline("borrowed", as_deployer("x")))
    assert "create jobs.batch" in message
    assert f'serviceaccounts/token for "deployer" in namespace "{namespace}"' in message
    assert not cluster.kube.get(path_of(WF, "workflows", namespace))["items"]
    assert not cluster.kube.get(path_of(WF, "executions", namespace))["items"]

    # bob may create Jobs (the namespace's grant) but not act as deployer: the pod spec
    # is his to define, the account is not.
    grant(cluster, namespace, "bob", "headway-edit")
    jobs = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}]
    namespace_role(cluster, namespace, "job-creator", jobs)
    bind(cluster.kube, namespace, "bob-jobs", ("Role", "job-creator"), user_subject("bob"))
    bob = cluster.as_user("bob")
    admitted = create(bob, namespace, privileged("escape"))
    assert admitted["metadata"]["annotations"]["headway.dev/defined-by"] == "bob"
    message = refused(bob, namespace, as_deployer("borrowed"))
    assert "jobs.batch" not in message
    assert (
        'task "deploy" runs as service account "deployer", which needs permission to '
        'create serviceaccounts/token for "deployer"'
    ) in message

    # alice may do both (the namespace's edit role, and deployer's tokens): admitted, and
    # the run's pod is deployer's.
    grant(cluster, namespace, "alice", "edit")
    namespace_role(cluster, namespace, "deployer-tokens", [{
        "apiGroups": [""], "resources": ["serviceaccounts/token"],
        "resourceNames": ["deployer"], "verbs": ["create"],
    }])  # fmt: skip
    bind(
        cluster.kube, namespace, "alice-tokens", ("Role", "deployer-tokens"), user_subject("alice")
    )
    alice = cluster.as_user("alice")
    create(alice, namespace, as_deployer("deploy"))
    create(alice, namespace, by_ref("deploy-1", "deploy"))
    done = wait_phase(cluster.kube, namespace, "deploy-1", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    [created] = [h for h in done["status"]["history"] if h["event"] == "Created"]
    assert created["by"] == "alice"
    [job] = jobs_of(cluster.kube, namespace, "deploy-1")
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "deployer"
    # Only the runs alice started have Jobs: carol's and bob's refusals left none.
    assert runs_with_jobs(cluster, namespace) == {"deploy-1"}


def test_a_run_user_runs_what_an_allowed_user_defined_and_changes_nothing_that_runs(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    defined = create(cluster.kube, namespace, workflow("report", [
        {"name": "a", "command": ["sh", "-c", f'echo "{{\\"ok\\": 1}}" > {OUT}']}
    ]))  # fmt: skip
    definer = defined["metadata"]["annotations"]["headway.dev/defined-by"]
    grant(cluster, namespace, "bob", "headway-run", "headway-view")
    bob = cluster.as_user("bob")
    create(bob, namespace, by_ref("report-1", "report"))
    assert wait_phase(cluster.kube, namespace, "report-1", "Succeeded")
    message = refused(bob, namespace, inline("mine", privileged("x")))
    assert 'user "bob" may not define what runs' in message

    # carol may edit Headway objects: a label is hers to change, what runs is not.
    grant(cluster, namespace, "carol", "headway-edit")
    carol = cluster.as_user("carol")
    path = path_of(WF, "workflows", namespace, "report")
    labelled = carol.patch(path, {"metadata": {"labels": {"team": "finance"}}})
    assert labelled["metadata"]["annotations"]["headway.dev/defined-by"] == definer
    with pytest.raises(KubeError) as changed:
        carol.patch(path, {"spec": {"tasks": [{"name": "a", "image": "x", "command": ["id"]}]}})
    assert changed.value.status == 403 and "create jobs.batch" in changed.value.message
    with pytest.raises(KubeError) as forged:  # nor may she rewrite who defined it
        carol.patch(path, {"metadata": {"annotations": {"headway.dev/recheck": "1"}}})
    assert forged.value.status == 403
    after = cluster.kube.get(path)
    assert after["spec"]["tasks"][0]["command"][0] == "sh"
    assert after["metadata"]["annotations"]["headway.dev/defined-by"] == definer


def runs_with_jobs(cluster: Cluster, namespace: str) -> set[str]:
    jobs = cluster.kube.get(path_of("batch/v1", "jobs", namespace))["items"]
    return {j["metadata"]["labels"]["headway.dev/execution"] for j in jobs}


def condition(cluster: Cluster, namespace: str, name: str) -> JSON | None:
    conditions = (execution(cluster.kube, namespace, name).get("status") or {}).get("conditions")
    return next((c for c in conditions or [] if c["type"] == "Ready"), None)


def test_nothing_created_around_the_webhook_runs_until_someone_allowed_confirms_it(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """As after an upgrade from a Headway that did not check definers, or with the webhook
    bypassed: the operator starts nothing unchecked, and says why."""
    without_definer_webhook(cluster, namespace, operator.configuration)
    try:
        create(cluster.kube, namespace, workflow("legacy", [
            {"name": "a", "command": ["sh", "-c", f'echo "{{\\"v\\": 1}}" > {OUT}']}
        ]))  # fmt: skip
        create(cluster.kube, namespace, by_ref("legacy-1", "legacy"))
        create(cluster.kube, namespace, inline("sneaky", privileged("x")))
    finally:
        operator.start()
    with_definer_webhook(cluster, namespace)
    for name, words in (("legacy-1", 'define Workflow "legacy"'), ("sneaky", "inline workflow")):
        ready = wait_for(functools.partial(condition, cluster, namespace, name), f"{name}: why")
        assert (ready["status"], ready["reason"]) == ("False", "DefinerNotChecked"), ready
        assert words in ready["message"] and "nothing runs" in ready["message"]
    path = path_of(WF, "workflows", namespace, "legacy")

    def workflow_not_ready() -> JSON | None:
        conditions = (cluster.kube.get(path).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["status"] == "False"), None)

    workflow_ready = wait_for(workflow_not_ready, "the Workflow to say why it cannot run")
    assert workflow_ready["reason"] == "DefinerNotChecked"
    assert runs_with_jobs(cluster, namespace) == set()

    # Confirming it takes the permission to define it: carol (headway-edit) may not ...
    grant(cluster, namespace, "carol", "headway-edit")
    recheck = {"metadata": {"annotations": {"headway.dev/recheck": "1"}}}
    with pytest.raises(KubeError) as refused_recheck:
        cluster.as_user("carol").patch(path, recheck)
    assert "create jobs.batch" in refused_recheck.value.message
    # ... someone allowed may, and the waiting run starts.
    cluster.kube.patch(path, recheck)
    done = wait_phase(cluster.kube, namespace, "legacy-1", "Succeeded", "Failed")
    assert done["status"]["tasks"]["a"]["outputs"] == {"v": 1}
    assert (condition(cluster, namespace, "sneaky") or {})["reason"] == "DefinerNotChecked"
    assert runs_with_jobs(cluster, namespace) == {"legacy-1"}


def kubectl_apply(
    cluster: Cluster, namespace: str, manifest: JSON
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "-n", namespace,
         "apply", "-f", "-"],
        input=json.dumps(manifest), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_values_substituted_into_a_shell_script_are_warned_about_when_applied(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    shell = workflow("shell", [{"name": "greet", "command": ["sh", "-c", "echo {{ params.who }}"]}])
    shell["spec"]["params"] = [{"name": "who", "default": "world"}]
    applied = kubectl_apply(cluster, namespace, shell)
    assert applied.returncode == 0, applied.stderr
    assert 'Warning: task "greet": {{ params.who }} is substituted into the code of "sh -c"' \
        in applied.stderr, applied.stderr  # fmt: skip
    safe = workflow("safe", [{"name": "greet", "command": ["sh", "-c", 'echo "$WHO"'],
                              "env": [{"name": "WHO", "value": "{{ params.who }}"}]}])  # fmt: skip
    safe["spec"]["params"] = [{"name": "who", "default": "world"}]
    applied = kubectl_apply(cluster, namespace, safe)
    assert applied.returncode == 0 and "Warning" not in applied.stderr, applied.stderr


HOSTILE = '"; echo \'{"pwned": true}\' > "$HEADWAY_OUTPUTS_FILE"; exit 0; echo "'


def test_a_hostile_provided_output_runs_in_a_shell_templated_task_and_not_through_env(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """Why the warning: a recoverer (who may only provide outputs) injects a command into
    a task that templates the value into ``sh -c``; the task that reads it from env runs
    it as the plain text it is."""
    templated = (
        f'echo "{{{{ tasks.a.outputs.name }}}}" > /dev/null; echo "{{\\"safe\\": 1}}" > {OUT}'
    )
    from_env = ("import json, os; json.dump({'got': os.environ['NAME']}, "
                "open(os.environ['HEADWAY_OUTPUTS_FILE'], 'w'))")  # fmt: skip
    gate(cluster, namespace, "closed")
    create(cluster.kube, namespace, workflow("inject", [
        gated("a"),
        {"name": "templated", "dependencies": ["a"], "command": ["sh", "-c", templated]},
        {"name": "from-env", "dependencies": ["a"], "command": ["python3", "-c", from_env],
         "env": [{"name": "NAME", "value": "{{ tasks.a.outputs.name }}"}]},
    ]))  # fmt: skip
    create(cluster.kube, namespace, by_ref("inject-1", "inject"))
    wait_phase(cluster.kube, namespace, "inject-1", "Failed")
    grant(cluster, namespace, "alice", *RECOVERER)
    request(cluster.as_user("alice"), namespace, "hostile", "inject-1",
            mode="ProvideOutputs", task="a", outputs={"name": HOSTILE})  # fmt: skip
    wait_request(cluster, namespace, "hostile", "Succeeded", "Failed", "Rejected")
    tasks = wait_phase(cluster.kube, namespace, "inject-1", "Succeeded", "Failed")["status"][
        "tasks"
    ]
    assert tasks["templated"]["outputs"] == {"pwned": True}  # the injected command ran
    assert tasks["from-env"]["outputs"] == {"got": HOSTILE}  # read as the text it is
