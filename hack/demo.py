"""``make demo``: Headway's main job, end to end on the local cluster.

Starts the local cluster, installs Headway with its Helm chart (two operator
replicas in ``headway-system``), runs the ETL example to the end, shows each
task's outputs, recovers a failed run without redoing finished work, shows an
invalid Workflow refused at admission, and leaves the cluster and Headway running
for a look around with kubectl.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from headway.models.crd import PLURALS as HEADWAY_PLURALS
from headway.shell.kube import Kube, KubeError, path_of
from localcluster import chart, cluster
from localcluster.chart_operator import ChartOperator
from localcluster.faults import Faults
from localcluster.layout import Layout

NAMESPACE = "headway-demo"
WF = "headway.dev/v1alpha1"
PLURALS = {**HEADWAY_PLURALS, "ConfigMap": "configmaps"}
console = Console()
JSON = dict[str, Any]


def create(kube: Kube, manifest: JSON) -> JSON:
    manifest["metadata"]["namespace"] = NAMESPACE
    return kube.create(
        path_of(manifest["apiVersion"], PLURALS[manifest["kind"]], NAMESPACE), manifest
    )


def security_demo(kube: Kube, layout: Layout) -> bool:
    """carol may edit Headway objects but not create Jobs: defining a privileged pod
    through a Workflow is refused, naming the permission she lacks."""
    binding = {
        "metadata": {"name": "carol-headway-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "headway-edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}],
    }  # fmt: skip
    kube.create(path_of("rbac.authorization.k8s.io/v1", "rolebindings", NAMESPACE), binding)
    escape = {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "escape"},
        "spec": {"tasks": [{"name": "root", "image": "busybox", "command": ["true"],
                            "podTemplate": {"hostPID": True, "volumes": [
                                {"name": "host", "hostPath": {"path": "/"}}]}}]},
    }  # fmt: skip
    try:
        create(Kube(layout.user_kubeconfig("carol")), escape)
    except KubeError as error:
        console.print(
            "[green]✓[/] carol (headway-edit, no right to create Jobs) cannot run a "
            f"privileged pod through a Workflow:\n  {error.message}"
        )
        return True
    console.print("[red]carol defined a privileged pod without the right to create Jobs[/]")
    return False


def fresh_namespace(kube: Kube) -> None:
    path = f"/api/v1/namespaces/{NAMESPACE}"
    if kube.delete(path) is not None:
        with console.status(f"removing the previous {NAMESPACE} namespace"):
            while kube.find(path) is not None:
                time.sleep(0.5)
    kube.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})


def apply_file(kube: Kube, path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        create(kube, document)
    console.print(
        f"[green]✓[/] applied {path.relative_to(path.parents[1])} in namespace {NAMESPACE}"
    )


def wait_done(kube: Kube, name: str, timeout: float = 300) -> JSON:
    path = path_of(WF, "executions", NAMESPACE, name)
    deadline = time.monotonic() + timeout
    with console.status(f"running execution {name}") as status:
        while time.monotonic() < deadline:
            obj = kube.get(path)
            phase = (obj.get("status") or {}).get("phase")
            status.update(
                f"execution {name}: {phase} {(obj.get('status') or {}).get('progress', '')}"
            )
            if phase in ("Succeeded", "Failed", "Blocked", "Paused"):
                return obj
            time.sleep(0.5)
    raise TimeoutError(f"execution {name} did not finish in {timeout:.0f}s")


def show(obj: JSON) -> None:
    status = obj["status"]
    table = Table(title=f"{obj['metadata']['name']}: {status['phase']} ({status['progress']})")
    for column in ("task", "phase", "attempts", "job", "outputs"):
        table.add_column(column)
    final = {t["name"] for t in status["workflow"].get("finally") or []}
    every = [*status["workflow"]["tasks"], *(status["workflow"].get("finally") or [])]
    for name in (t["name"] for t in every):
        task = status["tasks"][name]
        outputs = task.get("outputs")
        shown = (
            yaml.safe_dump(outputs, default_flow_style=True).strip() if outputs is not None else ""
        )
        label = f"{name} (finally)" if name in final else name
        table.add_row(label, task["phase"], str(task["attempts"]), task.get("job", ""), shown)
    console.print(table)


def job_names(kube: Kube, execution: str) -> list[str]:
    jobs = kube.get(
        path_of("batch/v1", "jobs", NAMESPACE), labelSelector=f"headway.dev/execution={execution}"
    )
    return sorted(j["metadata"]["name"] for j in jobs["items"])


def recover_demo(kube: Kube, examples: Path) -> bool:
    """A step fails; its configuration is fixed; a RecoveryRequest reruns it and what follows."""
    console.rule("recovery: rerun the failed step, keep what succeeded")
    apply_file(kube, examples / "recovery.yaml")
    failed = wait_done(kube, "report-nightly")
    show(failed)
    validate = failed["status"]["tasks"]["validate"]
    console.print(f"validate failed: {validate.get('reason')}: {validate.get('message')}")
    kept = job_names(kube, "report-nightly")
    kube.patch(
        path_of("v1", "configmaps", NAMESPACE, "report-settings"), {"data": {"currency": "EUR"}}
    )
    console.print("[green]✓[/] fixed the configuration (currency: EUR)")
    apply_file(kube, examples / "recovery-request.yaml")
    request = path_of(WF, "recoveryrequests", NAMESPACE, "fix-currency")
    with console.status("applying the RecoveryRequest"):
        while (kube.get(request).get("status") or {}).get("phase") not in (
            "Succeeded",
            "Failed",
            "Rejected",
        ):
            time.sleep(0.5)
    status = kube.get(request)["status"]
    console.print(
        f"RecoveryRequest fix-currency: {status['phase']}, "
        f"requested by {status.get('requestedBy')}: {status.get('message')}"
    )
    done = wait_done(kube, "report-nightly")
    show(done)
    jobs = job_names(kube, "report-nightly")
    console.print(f"Jobs before: {', '.join(kept)}\nJobs after:  {', '.join(jobs)}")
    before, after = failed["status"]["tasks"]["extract"], done["status"]["tasks"]["extract"]
    kept_extract = (before["job"], before["attempts"], before["outputs"]) == (
        after["job"],
        after["attempts"],
        after["outputs"],
    )
    if not (done["status"]["phase"] == "Succeeded" and set(kept) <= set(jobs) and kept_extract):
        console.print("[red]the recovery did not keep the finished work as it should[/]")
        return False
    console.print("[green]✓[/] extract was not rerun: same Job, same attempt count, same outputs.")
    return True


def recover_by_annotation(kube: Kube, name: str, token: str) -> None:
    """A Flow recovery by the annotation, waited for until the operator has taken it."""
    execution = path_of(WF, "executions", NAMESPACE, name)
    kube.patch(execution, {"metadata": {"annotations": {"headway.dev/recover": token}}})
    with console.status("waiting for the operator to take the recovery"):
        while (kube.get(execution).get("status") or {}).get("recovery", {}).get(
            "lastToken"
        ) != token:
            time.sleep(0.3)


def map_demo(kube: Kube, examples: Path) -> bool:
    """A map of 20 files where three fail; a Flow recovery reruns exactly those three."""
    console.rule("map: fan out over 20 files, recover item by item")
    apply_file(kube, examples / "map.yaml")
    failed = wait_done(kube, "files-1")
    process = failed["status"]["tasks"]["process"]
    console.print(
        f"files-1: {failed['status']['phase']}; process: {process['phase']}: "
        f"{process.get('message')}\n  item phases: {process['map']['phases']}"
    )
    before = {
        j["metadata"]["name"]: j["metadata"]["uid"]
        for j in kube.get(
            path_of("batch/v1", "jobs", NAMESPACE), labelSelector="headway.dev/task=process"
        )["items"]
    }
    kube.patch(path_of("v1", "configmaps", NAMESPACE, "file-fixes"), {"data": {"fixed": "yes"}})
    console.print("[green]✓[/] fixed the three files; recovering with the annotation (a Flow)")
    recover_by_annotation(kube, "files-1", "fix-files")
    done = wait_done(kube, "files-1")
    after = {
        j["metadata"]["name"]: j["metadata"]["uid"]
        for j in kube.get(
            path_of("batch/v1", "jobs", NAMESPACE), labelSelector="headway.dev/task=process"
        )["items"]
    }
    new = sorted(set(after) - set(before))
    untouched = sum(1 for name, uid in before.items() if after.get(name) == uid)
    report = done["status"]["tasks"]["report"].get("outputs")
    console.print(f"new Jobs: {', '.join(new)}\nreport: {report}")
    expected = ["files-1-process-11-2", "files-1-process-17-2", "files-1-process-4-2"]
    if done["status"]["phase"] != "Succeeded" or new != expected or untouched != 20:
        console.print("[red]the map recovery did not rerun exactly the three failed items[/]")
        return False
    console.print(
        f"[green]✓[/] exactly items 4, 11 and 17 reran; the other {untouched - 3} succeeded "
        "items' Jobs were untouched."
    )
    return True


def conditions_demo(kube: Kube, examples: Path) -> bool:
    """Tests fail: the AnyFailed notification runs and the finally summary says Failed.
    After the fix, a recovery reruns the tests and what follows: the production-only
    canary is Skipped, the release runs, the notification is looked at again (Skipped:
    nothing failed now) and the summary runs again, saying Succeeded."""
    console.rule("conditions: when, trigger rules and finally")
    apply_file(kube, examples / "conditions.yaml")
    failed = wait_done(kube, "release-1")
    show(failed)
    tasks = failed["status"]["tasks"]
    console.print(
        f"notify: {tasks['notify']['phase']} {tasks['notify'].get('outputs')}; "
        f"summary: {tasks['summary'].get('outputs')}"
    )
    kube.patch(path_of("v1", "configmaps", NAMESPACE, "test-fixes"), {"data": {"fixed": "yes"}})
    console.print("[green]✓[/] fixed the tests; recovering with the annotation (a Flow)")
    recover_by_annotation(kube, "release-1", "fix-tests")
    done = wait_done(kube, "release-1")
    show(done)
    after = done["status"]["tasks"]
    console.print(
        f"canary: {after['canary']['phase']} ({after['canary'].get('message')})\n"
        f"notify: {after['notify']['phase']} ({after['notify'].get('message')}); release: "
        f"{after['release'].get('outputs')}; summary (attempt {after['summary']['attempts']}): "
        f"{after['summary'].get('outputs')}"
    )
    expected = (
        tasks["notify"]["phase"] == "Succeeded"
        and tasks["summary"].get("outputs") == {"phase": "Failed"}
        and after["canary"]["phase"] == "Skipped"
        and done["status"]["phase"] == "Succeeded"
        and after["notify"]["phase"] == "Skipped"
        and after["summary"].get("outputs") == {"phase": "Succeeded"}
        and after["summary"]["attempts"] == 2
    )
    if not expected:
        console.print("[red]the conditions did not decide as they should[/]")
        return False
    console.print(
        "[green]✓[/] the failure notification ran on the failure and was looked at again "
        "after the recovery; the summary ran after each."
    )
    return True


def schedule_demo(kube: Kube, examples: Path, kubeconfig: Path) -> bool:
    """A nightly Schedule; three past nights backfilled with the CLI, each run named from
    its time; a second backfill of the same nights creates none."""
    console.rule("schedules: a nightly report, three past nights backfilled")
    apply_file(kube, examples / "schedule.yaml")
    backfill = ["backfill", "nightly-report", "--from", "2026-12-01", "--to", "2026-12-03T23:59",
                "-n", NAMESPACE, "--kubeconfig", str(kubeconfig)]  # fmt: skip
    first = headway_cli(backfill)
    names = [f"nightly-report-2026120{day}-0100" for day in (1, 2, 3)]
    runs = [wait_done(kube, name) for name in names]
    for run in runs:
        params = run["spec"]["params"]
        console.print(f"{run['metadata']['name']}: {run['status']['phase']}, day {params['day']}")
    second = headway_cli(backfill)
    ok = (
        first == 0
        and second == 0
        and all(r["status"]["phase"] == "Succeeded" for r in runs)
        and [r["spec"]["params"]["day"] for r in runs] == ["2026-12-01", "2026-12-02", "2026-12-03"]
        and len(job_names(kube, names[0])) == 1
    )
    if not ok:
        console.print("[red]the backfill did not create each night's run once[/]")
        return False
    console.print("[green]✓[/] each night ran once, named from its time; the second backfill "
                  "created none.")  # fmt: skip
    return True


def headway_cli(argv: list[str]) -> int:
    """``kubectl headway ARGV``, in this process (as the admin)."""
    from headway.cli.main import main as cli

    console.print(f"$ kubectl headway {' '.join(argv[:6])}", style="dim")
    return cli(argv)


def main() -> int:
    layout = Layout.default()
    with console.status("starting the local cluster (the first run builds Kubernetes: ~7 min)"):
        cluster.up(layout)
    console.print(f"[green]✓[/] local cluster up, admin kubeconfig {layout.kubeconfig}")
    kube = Kube(layout.kubeconfig)
    operator = ChartOperator(layout.kubeconfig, layout.logs / "operator", faults=Faults(layout))
    with console.status("installing Headway with its Helm chart (the first run builds helm)"):
        operator.start()
    console.print(
        f"[green]✓[/] Headway installed with Helm: release {chart.RELEASE} in namespace "
        f"{chart.NAMESPACE}, {len(operator.ready_pods())} operator replicas Ready"
    )
    fresh_namespace(kube)
    examples = layout.root.parent / "examples"
    apply_file(kube, examples / "etl.yaml")
    done = wait_done(kube, "etl-2026-11-21")
    show(done)
    if done["status"]["phase"] != "Succeeded":
        console.print("[red]the ETL execution did not succeed[/]")
        return 1
    if not recover_demo(kube, examples):
        return 1
    if not map_demo(kube, examples):
        return 1
    if not conditions_demo(kube, examples):
        return 1
    if not schedule_demo(kube, examples, layout.kubeconfig):
        return 1
    cyclic = {
        "apiVersion": WF,
        "kind": "Workflow",
        "metadata": {"name": "cyclic"},
        "spec": {
            "taskDefaults": {"image": "busybox"},
            "tasks": [
                {"name": "a", "dependencies": ["b"], "command": ["true"]},
                {"name": "b", "dependencies": ["a"], "command": ["true"]},
            ],
        },
    }
    try:
        create(kube, cyclic)
        console.print("[red]an invalid Workflow was accepted[/]")
        return 1
    except KubeError as error:
        console.print(f"[green]✓[/] an invalid Workflow is refused at admission:\n  {error}")
    if not security_demo(kube, layout):
        return 1
    helm = chart.helm_binary()
    console.print(
        "\nThe cluster and Headway keep running. Look around:\n"
        f"  export KUBECONFIG={layout.kubeconfig} PATH={layout.bin_link}:$PATH\n"
        f"  kubectl -n {NAMESPACE} get executions,jobs\n"
        f"  kubectl -n {NAMESPACE} describe execution report-nightly\n"
        f"  kubectl -n {NAMESPACE} get recoveryrequests,schedules\n"
        f"  .venv/bin/kubectl-headway get files-1 --items -n {NAMESPACE}\n"
        f"  kubectl -n {chart.NAMESPACE} get pods,leases\n"
        f"  kubectl get --raw /api/v1/namespaces/{chart.NAMESPACE}/services/"
        "headway-metrics:8080/proxy/metrics | grep ^headway_\n"
        f"  {helm} test {chart.RELEASE} -n {chart.NAMESPACE}\n"
        "Open the web console (sign in with a token, e.g. alice's in "
        f"{layout.users}/alice.kubeconfig):\n"
        f"  kubectl proxy &\n"
        f"  http://127.0.0.1:8001/api/v1/namespaces/{chart.NAMESPACE}/services/"
        "headway-console:8080/proxy/\n"
        "Stop the cluster with `make cluster-down` (Headway starts again with it)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
