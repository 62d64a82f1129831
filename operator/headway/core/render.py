"""The Job for one task attempt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headway.core import templates
from headway.core.definers import service_account
from headway.core.naming import job_name, label_value
from headway.models.base import API_VERSION
from headway.models.workflow import Task

JSON = dict[str, Any]
OUTPUTS_PATH = "/dev/termination-log"
CONTAINER = "main"
LABEL_EXECUTION = "headway.dev/execution"
LABEL_EXECUTION_UID = "headway.dev/execution-uid"
LABEL_TASK = "headway.dev/task"
LABEL_ATTEMPT = "headway.dev/attempt"
ANNOTATION_KEY = "headway.dev/idempotency-key"


@dataclass(frozen=True)
class Owner:
    """The Execution a Job belongs to."""

    name: str
    namespace: str
    uid: str


def render_job(
    owner: Owner,
    task: Task,
    attempt: int,
    params: Mapping[str, str],
    inputs: Mapping[str, Mapping[str, Any]],
    key: str,
    referenced: Mapping[str, Mapping[str, Any]] | None = None,
) -> JSON:
    """The Job manifest; raises ``templates.TemplateError`` when a reference cannot resolve.

    ``inputs``: the dependencies' outputs (``HEADWAY_INPUTS``); ``referenced``: the outputs
    of every ancestor a ``{{ tasks.X.outputs.K }}`` names (default: ``inputs``)."""
    available = {**inputs, **(referenced or {})}

    def sub(text: str) -> str:
        return templates.substitute(text, params, available)

    name = job_name(owner.name, task.name, attempt)
    labels = {
        LABEL_EXECUTION: label_value(owner.name),
        LABEL_EXECUTION_UID: owner.uid,
        LABEL_TASK: task.name,
        LABEL_ATTEMPT: str(attempt),
        "app.kubernetes.io/managed-by": "headway",
    }
    env: list[JSON] = [
        {"name": "HEADWAY_EXECUTION", "value": owner.name},
        {"name": "HEADWAY_TASK", "value": task.name},
        {"name": "HEADWAY_ATTEMPT", "value": str(attempt)},
        {"name": "HEADWAY_IDEMPOTENCY_KEY", "value": key},
        {"name": "HEADWAY_PARAMS", "value": json.dumps(dict(params), sort_keys=True)},
        {"name": "HEADWAY_INPUTS", "value": json.dumps(dict(inputs), sort_keys=True)},
        {"name": "HEADWAY_OUTPUTS_FILE", "value": OUTPUTS_PATH},
    ]
    for var in task.env or []:
        entry = var.wire()
        if var.value is not None:
            entry["value"] = sub(var.value)
        env.append(entry)
    container: JSON = {
        "name": CONTAINER,
        "image": task.image,
        "env": env,
        "terminationMessagePath": OUTPUTS_PATH,
        "terminationMessagePolicy": "File",
    }
    if task.command:
        container["command"] = [sub(c) for c in task.command]
    if task.args:
        container["args"] = [sub(a) for a in task.args]
    if task.working_dir:
        container["workingDir"] = task.working_dir
    if task.resources:
        container["resources"] = task.resources
    # The account is the one admission checked the definer may act as (one answer, in
    # core.definers); the deprecated alias is never passed on beside it.
    pod_spec: JSON = {
        k: v
        for k, v in (task.pod_template or {}).items()
        if k not in ("containers", "serviceAccount", "serviceAccountName")
    }
    pod_spec.update({"restartPolicy": "Never", "containers": [container]})
    account = service_account(task)
    if account:
        pod_spec["serviceAccountName"] = account
    job_spec: JSON = {
        "backoffLimit": 0,  # the operator owns retries
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if task.timeout_seconds:
        job_spec["activeDeadlineSeconds"] = task.timeout_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_KEY: key},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Execution",
                    "name": owner.name,
                    "uid": owner.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }
