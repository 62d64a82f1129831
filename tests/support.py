"""Helpers shared by the tests: waiting on conditions, never on fixed sleeps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from headway.models.crd import PLURALS
from headway.shell.kube import Kube, path_of
from localcluster.faults import Faults
from localcluster.layout import Layout

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    pass


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 120.0, interval: float = 0.25
) -> T:
    """Poll ``check`` until it returns something truthy and return it; fail naming ``what``
    (and the last value seen) after ``timeout`` seconds. Timeouts are generous on purpose:
    speed belongs in benchmarks, not in tests."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise WaitTimeoutError(
        f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}"
    )


@dataclass
class Cluster:
    """The cluster under test, as the admin, with the test users' kubeconfigs."""

    kubeconfig: Path
    kube: Kube
    users: dict[str, Path]
    local: bool
    layout: Layout

    def as_user(self, user: str) -> Kube:
        return Kube(self.users[user])

    @property
    def faults(self) -> Faults:
        return Faults(self.layout)

    @property
    def kubectl(self) -> str:
        if self.local:
            return str(self.layout.bin_link / "kubectl")
        return "kubectl"


# --- Headway objects ----------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
JSON = dict[str, Any]


def create(kube: Kube, namespace: str, manifest: JSON) -> JSON:
    """Create one object of any kind in ``namespace``."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    plural = {**PLURALS, "ConfigMap": "configmaps"}[kind]
    body = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    return kube.create(path_of(api_version, plural, namespace), body)


def apply_example(kube: Kube, namespace: str, name: str) -> list[JSON]:
    """Create every object of ``examples/<name>.yaml`` in ``namespace``."""
    documents = yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text())
    return [create(kube, namespace, doc) for doc in documents if doc]


def execution(kube: Kube, namespace: str, name: str) -> JSON:
    return kube.get(path_of("headway.dev/v1alpha1", "executions", namespace, name))


def wait_phase(kube: Kube, namespace: str, name: str, *phases: str, timeout: float = 180) -> JSON:
    """Wait until the Execution's phase is one of ``phases``; return it."""

    def check() -> JSON | None:
        obj = execution(kube, namespace, name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    return wait_for(check, f"execution {name} to be {'/'.join(phases)}", timeout=timeout)


def task_phase(kube: Kube, namespace: str, name: str, task: str) -> str | None:
    """The task's phase, or None while the Execution has no status for it yet."""
    status = execution(kube, namespace, name).get("status") or {}
    phase = ((status.get("tasks") or {}).get(task) or {}).get("phase")
    return str(phase) if phase else None


def jobs_of(kube: Kube, namespace: str, execution_name: str) -> list[JSON]:
    """The Execution's Jobs, oldest first."""
    items = kube.get(
        path_of("batch/v1", "jobs", namespace),
        labelSelector=f"headway.dev/execution={execution_name}",
    )["items"]
    return sorted(items, key=lambda j: (j["metadata"]["creationTimestamp"], j["metadata"]["name"]))


def bind(kube: Kube, namespace: str, name: str, role: tuple[str, str], subject: JSON) -> None:
    """A RoleBinding of ``role`` (kind, name) to ``subject`` in ``namespace``."""
    kind, role_name = role
    kube.create(
        path_of("rbac.authorization.k8s.io/v1", "rolebindings", namespace),
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
            "subjects": [subject],
        },
    )


def user_subject(name: str) -> JSON:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


# --- recovery scenarios ---------------------------------------------------------------------

WF = "headway.dev/v1alpha1"
OUT = '"$HEADWAY_OUTPUTS_FILE"'


def emit(task: str) -> list[str]:
    return ["sh", "-c", f'echo "{{\\"from\\": \\"{task}\\"}}" > {OUT}']


# The env entry that gives a task the ``gate`` ConfigMap's state (see ``gate``).
GATE_ENV: JSON = {
    "name": "GATE",
    "valueFrom": {"configMapKeyRef": {"name": "gate", "key": "state"}},
}


def gated(task: str, sleep: float = 0) -> JSON:
    """A task that fails until the test flips the ``gate`` ConfigMap to open (after
    sleeping ``sleep`` seconds, to be seen running)."""
    return {
        "name": task,
        "command": [
            "sh",
            "-c",
            f'sleep {sleep}; test "$GATE" = open && echo "{{\\"from\\": \\"{task}\\"}}" > {OUT}',
        ],
        "env": [GATE_ENV],
    }


def workflow(name: str, tasks: list[JSON]) -> JSON:
    return {
        "apiVersion": WF,
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"taskDefaults": {"image": "python:3.12-slim"}, "tasks": tasks},
    }


def start(cluster: Cluster, namespace: str, name: str, tasks: list[JSON], **spec: Any) -> None:
    create(cluster.kube, namespace, workflow(name, tasks))
    create(
        cluster.kube,
        namespace,
        {
            "apiVersion": WF,
            "kind": "Execution",
            "metadata": {"name": f"{name}-1"},
            "spec": {"workflowRef": {"name": name}, **spec},
        },
    )


def define(cluster: Cluster, namespace: str, name: str, spec: JSON, **params: str) -> None:
    """The Workflow ``name`` (a whole spec, python:3.12-slim by default) and its run
    ``name-1`` (with ``params``)."""
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"name": name},
        "spec": {"taskDefaults": {"image": "python:3.12-slim"}, **spec},
    })  # fmt: skip
    run_workflow(cluster, namespace, name, f"{name}-1", **params)


def run_workflow(cluster: Cluster, namespace: str, workflow: str, name: str, **params: str) -> None:
    """An Execution ``name`` of the Workflow ``workflow``."""
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Execution", "metadata": {"name": name},
        "spec": {"workflowRef": {"name": workflow}, "params": params},
    })  # fmt: skip


def phases(obj: JSON) -> dict[str, str]:
    """Each task's phase in an Execution."""
    return {name: state["phase"] for name, state in obj["status"]["tasks"].items()}


def gate(cluster: Cluster, namespace: str, state: str) -> None:
    path = path_of("v1", "configmaps", namespace, "gate")
    body = {"metadata": {"name": "gate"}, "data": {"state": state}}
    if cluster.kube.find(path) is None:
        cluster.kube.create(path_of("v1", "configmaps", namespace), body)
    else:
        cluster.kube.patch(path, {"data": {"state": state}})


def failing_run(
    cluster: Cluster, namespace: str, name: str, tasks: list[JSON], **spec: Any
) -> JSON:
    """Start ``name`` with the gate closed and return it once it has Failed."""
    gate(cluster, namespace, "closed")
    start(cluster, namespace, name, tasks, **spec)
    return wait_phase(cluster.kube, namespace, f"{name}-1", "Failed")


def job_uids(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    return {
        j["metadata"]["name"]: j["metadata"]["uid"] for j in jobs_of(cluster.kube, namespace, name)
    }


def grant(cluster: Cluster, namespace: str, user: str, *roles: str) -> None:
    """Bind the chart's ClusterRoles ``roles`` (``headway-view``, ``headway-run``,
    ``headway-recover``, ``headway-edit``) or built-in ones (``edit``) to ``user`` in
    ``namespace``: tests use the roles people are given, never hand-made ones."""
    for role in roles:
        bind(cluster.kube, namespace, f"{user}-{role}", ("ClusterRole", role), user_subject(user))


# The roles a person who reads runs and recovers them is given.
RECOVERER = ("headway-view", "headway-recover")
READER = ("headway-view",)


def request(kube: Kube, namespace: str, name: str, execution_name: str, **spec: Any) -> JSON:
    body = {
        "apiVersion": WF,
        "kind": "RecoveryRequest",
        "metadata": {"name": name},
        "spec": {"executionRef": {"name": execution_name}, **spec},
    }
    return kube.create(path_of(WF, "recoveryrequests", namespace), body)


def wait_request(cluster: Cluster, namespace: str, name: str, *phases: str) -> JSON:
    path = path_of(WF, "recoveryrequests", namespace, name)

    def check() -> JSON | None:
        obj = cluster.kube.get(path)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    return wait_for(check, f"request {name} to be {'/'.join(phases)}", timeout=180)


def annotate(kube: Kube, namespace: str, name: str, token: str) -> None:
    kube.patch(
        path_of(WF, "executions", namespace, name),
        {"metadata": {"annotations": {"headway.dev/recover": token}}},
    )


def wait_token(cluster: Cluster, namespace: str, name: str, token: str) -> None:
    """Wait until the operator has taken the recover annotation's value."""

    def taken() -> bool:
        status: JSON = execution(cluster.kube, namespace, name).get("status") or {}
        return (status.get("recovery") or {}).get("lastToken") == token

    wait_for(taken, f"the operator to take recover token {token}")


def wait_events(
    kube: Kube, namespace: str, seen: Callable[[list[JSON]], bool], name: str | None = None
) -> list[JSON]:
    """The Events in ``namespace`` (on object ``name``) once ``seen`` holds of them: the
    operator posts Events after its status write, off the hot path, so they may follow
    the phase they tell of by a moment."""
    query = {"fieldSelector": f"involvedObject.name={name}"} if name else {}

    def found() -> list[JSON] | None:
        events = list(kube.get(path_of("v1", "events", namespace), **query)["items"])
        return events if seen(events) else None

    return wait_for(found, "the Events", timeout=60)


# --- the kubectl plugin ---------------------------------------------------------------------

CLI = Path(sys.executable).parent / "kubectl-headway"


def run(
    cluster: Cluster, user: str | None, namespace: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``kubectl headway ARGS -n NAMESPACE`` as ``user`` (the admin when None)."""
    kubeconfig = cluster.users[user] if user else cluster.kubeconfig
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    return subprocess.run(
        [str(CLI), *args, "-n", namespace, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


# --- a path around the webhooks ---------------------------------------------------------------


def without_definer_webhook(cluster: Cluster, namespace: str, configuration: str) -> None:
    """The chart's mutating webhooks gone (as a person with cluster rights could do), and
    the API server seen to call them no more: it notices a deleted configuration a moment
    later, so probe Workflows are created until one comes back with no definer recorded.
    The operator keeps running; ``operator.start()`` (helm upgrade) brings them back."""
    cluster.kube.delete(
        path_of("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", None,
                configuration)
    )  # fmt: skip
    wait_for(lambda: not definer_recorded(cluster, namespace),
             "the API server to stop calling the definer webhook", timeout=60)  # fmt: skip


def with_definer_webhook(cluster: Cluster, namespace: str) -> None:
    """After ``operator.start()`` put the configuration back: until the API server has
    seen it, a Workflow would be admitted unchecked."""
    wait_for(lambda: definer_recorded(cluster, namespace),
             "the API server to call the definer webhook again", timeout=60)  # fmt: skip


def definer_recorded(cluster: Cluster, namespace: str) -> bool:
    """Whether a probe Workflow created now comes back with its definer recorded."""
    probes = path_of(WF, "workflows", namespace)
    probe = cluster.kube.create(probes, {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"generateName": "probe-"},
        "spec": {"tasks": [{"name": "a", "image": "i", "command": ["true"]}]},
    })  # fmt: skip
    cluster.kube.delete(f"{probes}/{probe['metadata']['name']}")
    return "headway.dev/defined-by" in (probe["metadata"].get("annotations") or {})
