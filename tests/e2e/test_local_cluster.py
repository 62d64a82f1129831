"""The local cluster behaves like a real one: Jobs, pod status, GC, RBAC, logs, faults.

These run against the cluster from the ``cluster`` fixture; the fault tests
need the local cluster's kubelet and fail (never skip) elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from headway.shell.kube import KubeError, path_of
from localcluster import cluster as localcluster
from support import Cluster, bind, wait_for
from support import user_subject as user

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]


def job(name: str, command: list[str], **pod_spec: Any) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "python:3.12-slim", "command": command}
                    ],
                    **pod_spec,
                }
            },
        },
    }


def create_job(cluster: Cluster, namespace: str, body: JSON) -> JSON:
    return cluster.kube.create(path_of("batch/v1", "jobs", namespace), body)


def job_condition(cluster: Cluster, namespace: str, name: str) -> str | None:
    status = cluster.kube.get(path_of("batch/v1", "jobs", namespace, name)).get("status", {})
    for condition in status.get("conditions") or []:
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return str(condition["type"])
    return None


def pods_of(cluster: Cluster, namespace: str, job_name: str) -> list[JSON]:
    listing = cluster.kube.get(
        path_of("v1", "pods", namespace), labelSelector=f"job-name={job_name}"
    )
    return list(listing["items"])


def pod_phase(cluster: Cluster, namespace: str, name: str, phases: tuple[str, ...]) -> JSON | None:
    pod = cluster.kube.find(path_of("v1", "pods", namespace, name))
    return pod if pod and pod.get("status", {}).get("phase") in phases else None


def run_pod(cluster: Cluster, namespace: str, name: str, spec: JSON) -> JSON:
    """Create a pod and wait until it has ended."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    cluster.kube.create(path_of("v1", "pods", namespace), body)
    return wait_for(
        lambda: pod_phase(cluster, namespace, name, ("Succeeded", "Failed")), f"pod {name} to end"
    )


def test_job_reports_outputs_through_the_termination_message(
    cluster: Cluster, namespace: str
) -> None:
    script = (
        "import json, os; "
        "json.dump({'rows': 42, 'node': os.environ['NODE']}, open('/dev/termination-log', 'w'))"
    )
    body = job("outputs", ["python3", "-c", script])
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    create_job(cluster, namespace, body)

    assert (
        wait_for(lambda: job_condition(cluster, namespace, "outputs"), "job to end") == "Complete"
    )
    [pod] = pods_of(cluster, namespace, "outputs")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert json.loads(terminated["message"]) == {"rows": 42, "node": pod["spec"]["nodeName"]}


def test_failing_job_records_the_exit_code(cluster: Cluster, namespace: str) -> None:
    create_job(cluster, namespace, job("exit3", ["python3", "-c", "import sys; sys.exit(3)"]))

    assert wait_for(lambda: job_condition(cluster, namespace, "exit3"), "job to end") == "Failed"
    [pod] = pods_of(cluster, namespace, "exit3")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deleting_a_job_deletes_its_pods_and_kills_the_processes(
    cluster: Cluster, namespace: str
) -> None:
    create_job(cluster, namespace, job("sleeper", ["sleep", "600"]))
    pod = wait_for(
        lambda: next(
            (
                p
                for p in pods_of(cluster, namespace, "sleeper")
                if p["status"].get("phase") == "Running"
            ),
            None,
        ),
        "the job's pod to run",
    )
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    described = next(p for p in cluster.faults.pods(node) if p["name"] == name)
    pid = described["containers"]["main"]["pid"]
    assert _pid_alive(pid)

    cluster.kube.delete(
        path_of("batch/v1", "jobs", namespace, "sleeper"), {"propagationPolicy": "Background"}
    )

    wait_for(
        lambda: not pods_of(cluster, namespace, "sleeper"),
        "the garbage collector to delete the pod",
    )
    wait_for(lambda: not _pid_alive(pid), f"process {pid} to be killed")


def test_rbac_refuses_a_user_until_a_role_binding_allows_it(
    cluster: Cluster, namespace: str
) -> None:
    alice = cluster.as_user("alice")
    with pytest.raises(KubeError) as refused:
        alice.get(path_of("v1", "configmaps", namespace))
    assert refused.value.status == 403

    bind(cluster.kube, namespace, "alice-view", ("ClusterRole", "view"), user("alice"))

    listing = wait_for(
        lambda: _try_get(alice, path_of("v1", "configmaps", namespace)), "alice allowed"
    )
    assert listing["kind"] == "ConfigMapList"
    with pytest.raises(KubeError) as still_refused:  # view grants reading, not writing
        alice.create(path_of("v1", "configmaps", namespace), {"metadata": {"name": "x"}})
    assert still_refused.value.status == 403


def _try_get(kube: Any, path: str) -> JSON | None:
    try:
        return dict(kube.get(path))
    except KubeError as error:
        if error.status == 403:
            return None
        raise


def test_pod_talks_to_the_api_server_as_its_service_account(
    cluster: Cluster, namespace: str
) -> None:
    """The projected token, CA and KUBERNETES_SERVICE_* let in-cluster clients work here."""
    account = {"kind": "ServiceAccount", "name": "default", "namespace": namespace}
    bind(cluster.kube, namespace, "default-view", ("ClusterRole", "view"), account)
    script = """
import json, os, ssl, urllib.request
base = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(base + '/token').read()
namespace = open(base + '/namespace').read()
ctx = ssl.create_default_context(cafile=base + '/ca.crt')
url = 'https://%s:%s/api/v1/namespaces/%s/pods' % (
    os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'], namespace)
req = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token})
pods = json.load(urllib.request.urlopen(req, context=ctx))
json.dump({'kind': pods['kind'], 'namespace': namespace}, open('/dev/termination-log', 'w'))
"""
    # The root CA ConfigMap is published by the controller manager shortly after the namespace.
    wait_for(
        lambda: cluster.kube.find(path_of("v1", "configmaps", namespace, "kube-root-ca.crt")),
        "kube-root-ca.crt",
    )
    wait_for(
        lambda: cluster.kube.find(path_of("v1", "serviceaccounts", namespace, "default")),
        "the default service account",
    )
    pod = run_pod(
        cluster,
        namespace,
        "in-cluster",
        {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "python:3.12-slim", "command": ["python3", "-c", script]}
            ],
        },
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0, terminated
    assert json.loads(terminated["message"]) == {"kind": "PodList", "namespace": namespace}


def test_env_sources_volumes_and_private_termination_files(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kube.create(
        path_of("v1", "configmaps", namespace),
        {
            "metadata": {"name": "settings"},
            "data": {"greeting": "hello", "file.txt": "from-configmap"},
        },
    )
    cluster.kube.create(
        path_of("v1", "secrets", namespace),
        {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}},
    )
    report = (
        "import json, os; "
        "json.dump({'who': os.environ['WHO'], 'greeting': os.environ['CFG_greeting'], "
        "'password': os.environ['PASSWORD'], 'pod': os.environ['POD'], "
        "'cm_file': open('/etc/settings/file.txt').read(), "
        "'shared': open('/scratch/shared').read(), 'cwd': os.getcwd()}, "
        "open('/dev/termination-log', 'w'))"
    )
    pod = run_pod(
        cluster,
        namespace,
        "two-containers",
        {
            "restartPolicy": "Never",
            "volumes": [
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "scratch", "emptyDir": {}},
            ],
            "initContainers": [
                {
                    "name": "prepare",
                    "image": "busybox",
                    "command": ["sh", "-c", "printf shared-data > /scratch/shared"],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            ],
            "containers": [
                {
                    "name": name,
                    "image": "python:3.12-slim",
                    "command": ["python3", "-c", report],
                    "workingDir": "/tmp",
                    "env": [
                        {"name": "WHO", "value": name},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {
                            "name": "PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                        },
                    ],
                    "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
                    "volumeMounts": [
                        {"name": "settings", "mountPath": "/etc/settings", "readOnly": True},
                        {"name": "scratch", "mountPath": "/scratch"},
                    ],
                }
                for name in ("first", "second")
            ],
        },
    )
    assert pod["status"]["phase"] == "Succeeded"
    init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
    assert init["exitCode"] == 0
    messages = {
        c["name"]: json.loads(c["state"]["terminated"]["message"])
        for c in pod["status"]["containerStatuses"]
    }
    for name in ("first", "second"):
        assert messages[name] == {
            "who": name,
            "greeting": "hello",
            "password": "s3cret",
            "pod": "two-containers",
            "cm_file": "from-configmap",
            "shared": "shared-data",
            "cwd": "/tmp",
        }


def test_missing_command_is_a_start_error(cluster: Cluster, namespace: str) -> None:
    pod = run_pod(
        cluster,
        namespace,
        "no-such-binary",
        {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["no-such-binary-xyz"]}],
        },
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Failed"
    assert terminated["reason"] == "StartError"
    assert "no-such-binary-xyz" in terminated["message"]


def test_active_deadline_is_enforced(cluster: Cluster, namespace: str) -> None:
    pod = run_pod(
        cluster,
        namespace,
        "too-slow",
        {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 2,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}],
        },
    )
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"


def test_kubectl_logs_reads_the_container_output(cluster: Cluster, namespace: str) -> None:
    run_pod(
        cluster,
        namespace,
        "talker",
        {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo one; echo two"]}
            ],
        },
    )
    result = subprocess.run(
        [
            cluster.kubectl,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "-n",
            namespace,
            "logs",
            "talker",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["one", "two"]


def test_fault_kill_container_ends_it_with_sigkill(cluster: Cluster, namespace: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "victim"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}],
        },
    }
    cluster.kube.create(path_of("v1", "pods", namespace), body)
    wait_for(lambda: pod_phase(cluster, namespace, "victim", ("Running",)), "victim to run")

    cluster.faults.kill_container(namespace, "victim")

    pod = wait_for(lambda: pod_phase(cluster, namespace, "victim", ("Failed",)), "victim to fail")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


def test_unpullable_image_keeps_the_pod_pending(cluster: Cluster, namespace: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "no-image"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "registry.invalid/nothing:1", "command": ["true"]}
            ],
        },
    }
    cluster.kube.create(path_of("v1", "pods", namespace), body)

    def waiting_reasons() -> set[str]:
        pod = cluster.kube.get(path_of("v1", "pods", namespace, "no-image"))
        assert pod["status"]["phase"] == "Pending"
        statuses = pod["status"].get("containerStatuses") or []
        return {s["state"].get("waiting", {}).get("reason", "") for s in statuses}

    wait_for(lambda: "ErrImagePull" in waiting_reasons(), "ErrImagePull")
    wait_for(lambda: "ImagePullBackOff" in waiting_reasons(), "ImagePullBackOff")


def test_blocked_image_prefix_fails_to_pull_until_unblocked(
    cluster: Cluster, namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "held"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "example.org/held:1", "command": ["true"]}],
        },
    }
    with cluster.faults.image_pull_failure("example.org/held"):
        cluster.kube.create(path_of("v1", "pods", namespace), body)
        wait_for(
            lambda: any(
                s["state"].get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
                for s in cluster.kube.get(path_of("v1", "pods", namespace, "held"))["status"].get(
                    "containerStatuses"
                )
                or []
            ),
            "the pull to fail",
        )
    assert wait_for(
        lambda: pod_phase(cluster, namespace, "held", ("Succeeded",)), "held pod to run"
    )


def _node_ready(cluster: Cluster, node: str) -> str:
    conditions = cluster.kube.get(f"/api/v1/nodes/{node}")["status"]["conditions"]
    return str(next(c["status"] for c in conditions if c["type"] == "Ready"))


def test_lost_node_goes_not_ready_and_comes_back(cluster: Cluster) -> None:
    node = cluster.layout.node_names()[-1]
    assert _node_ready(cluster, node) == "True"
    cluster.faults.lose_node(node)
    try:
        wait_for(lambda: _node_ready(cluster, node) == "Unknown", f"{node} to be lost")
    finally:
        cluster.faults.restore_node(node)
    wait_for(lambda: _node_ready(cluster, node) == "True", f"{node} to be Ready again")


def test_cluster_up_twice_is_harmless(cluster: Cluster) -> None:
    if not cluster.local:
        pytest.fail("this test is of the local cluster's tooling; unset HEADWAY_TEST_KUBECONFIG")
    before = localcluster.running_pid(cluster.layout, "kube-apiserver")
    localcluster.up(cluster.layout)
    assert localcluster.running_pid(cluster.layout, "kube-apiserver") == before
