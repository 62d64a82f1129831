"""``headway selftest``: what ``helm test`` runs. Submits a one-task Workflow and
Execution, waits for the Execution to succeed, and deletes both. Exit 0 on success,
1 with the Execution's phase and message otherwise."""

from __future__ import annotations

import time
from typing import Any

from headway.models.base import API_VERSION
from headway.shell.kube import Kube, KubeError, path_of

JSON = dict[str, Any]


def _manifests(name: str, image: str, command: list[str]) -> tuple[JSON, JSON]:
    workflow = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"tasks": [{"name": "hello", "image": image, "command": command}]},
    }
    execution = {
        "apiVersion": API_VERSION,
        "kind": "Execution",
        "metadata": {"name": name},
        "spec": {"workflowRef": {"name": name}},
    }
    return workflow, execution


def selftest(kube: Kube, namespace: str, name: str, image: str, command: list[str],
             timeout: float) -> int:  # fmt: skip
    workflows = path_of(API_VERSION, "workflows", namespace)
    executions = path_of(API_VERSION, "executions", namespace)
    workflow, execution = _manifests(name, image, command)
    for collection in (workflows, executions):
        kube.delete(f"{collection}/{name}")  # a leftover from an interrupted run
    _wait_gone(kube, f"{executions}/{name}", timeout)
    try:
        kube.create(workflows, workflow)
        kube.create(executions, execution)
        deadline = time.monotonic() + timeout
        status: JSON = {}
        while time.monotonic() < deadline:
            status = (kube.find(f"{executions}/{name}") or {}).get("status") or {}
            if status.get("phase") == "Succeeded":
                print(f"execution {namespace}/{name} succeeded ({status.get('progress')})")
                return 0
            if status.get("phase") in ("Failed", "Blocked"):
                break
            time.sleep(1)
        print(
            f"execution {namespace}/{name} did not succeed within {timeout:.0f}s: "
            f"phase {status.get('phase') or 'none'}; tasks {status.get('tasks') or {}}"
        )
        return 1
    finally:
        for collection in (executions, workflows):
            try:
                kube.delete(f"{collection}/{name}")
            except KubeError as error:
                print(f"could not clean up {collection}/{name}: {error}")


def _wait_gone(kube: Kube, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while kube.find(path) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
