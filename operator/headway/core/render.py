"""The Job for one task attempt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headway.core import templates
from headway.core.definers import service_account
from headway.core.items import job_name as item_job_name
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
LABEL_ITEM = "headway.dev/item"
ANNOTATION_KEY = "headway.dev/idempotency-key"
ANNOTATION_INPUTS = "headway.dev/inputs"  # on the pod: the inputs file's content
INPUTS_DIR = "/var/run/headway"
INPUTS_FILE = f"{INPUTS_DIR}/inputs.json"
INPUTS_VOLUME = "headway-inputs"
# HEADWAY_INPUTS is left out of the environment past this size (one variable may take
# 128 KiB on Linux, and all of them with the arguments share a limit): the file has it.
INPUTS_ENV_LIMIT = 32 * 1024
# The inputs file is projected from a pod annotation, and all annotations of an object
# may take 256 KiB: inputs past this cannot be given.
INPUTS_FILE_LIMIT = 200 * 1024


class InputsError(ValueError):
    """A task's inputs are too large to give it; the message says how large."""


@dataclass(frozen=True)
class Owner:
    """The Execution a Job belongs to."""

    name: str
    namespace: str
    uid: str


def owner_reference(owner: Owner) -> JSON:
    """What makes an object the Execution's: deleted with it, and watched as its own."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Execution",
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_job(
    owner: Owner,
    task: Task,
    attempt: int,
    params: Mapping[str, str],
    inputs: Mapping[str, Mapping[str, Any]],
    key: str,
    referenced: Mapping[str, Any] | None = None,
    item: templates.Item | None = None,
    execution_phase: str | None = None,
) -> JSON:
    """The Job manifest; raises ``templates.TemplateError`` when a reference cannot resolve
    and ``InputsError`` when the inputs are too large to give.

    ``inputs``: the dependencies' outputs (``HEADWAY_INPUTS``, and the file
    ``HEADWAY_INPUTS_FILE``); ``referenced``: the outputs of every ancestor a
    ``{{ tasks.X.outputs.K }}`` names (default: ``inputs``); ``item``: a map's item;
    ``execution_phase``: for a finally task, the phase the other tasks gave the run."""
    available = {**inputs, **(referenced or {})}

    def sub(text: str) -> str:
        return templates.substitute(text, params, available, item)

    labels = {
        LABEL_EXECUTION: label_value(owner.name),
        LABEL_EXECUTION_UID: owner.uid,
        LABEL_TASK: task.name,
        LABEL_ATTEMPT: str(attempt),
        "app.kubernetes.io/managed-by": "headway",
    }
    if item is None:
        name = job_name(owner.name, task.name, attempt)
    else:
        name = item_job_name(owner.name, task.name, item.index, attempt)
        labels[LABEL_ITEM] = str(item.index)
    given = json.dumps(dict(inputs), sort_keys=True)
    if len(given.encode()) > INPUTS_FILE_LIMIT:
        raise InputsError(
            f"inputs are {len(given.encode())} bytes, more than {INPUTS_FILE_LIMIT} (the most "
            "a task can be given)"
        )
    env: list[JSON] = [
        {"name": "HEADWAY_EXECUTION", "value": owner.name},
        {"name": "HEADWAY_TASK", "value": task.name},
        {"name": "HEADWAY_ATTEMPT", "value": str(attempt)},
        {"name": "HEADWAY_IDEMPOTENCY_KEY", "value": key},
        {"name": "HEADWAY_PARAMS", "value": json.dumps(dict(params), sort_keys=True)},
        {"name": "HEADWAY_INPUTS_FILE", "value": INPUTS_FILE},
        {"name": "HEADWAY_OUTPUTS_FILE", "value": OUTPUTS_PATH},
    ]
    if len(given.encode()) <= INPUTS_ENV_LIMIT:
        env.insert(5, {"name": "HEADWAY_INPUTS", "value": given})
    if execution_phase is not None:
        env.append({"name": "HEADWAY_EXECUTION_PHASE", "value": execution_phase})
    if item is not None:
        env.append({"name": "HEADWAY_ITEM_INDEX", "value": str(item.index)})
        env.append({"name": "HEADWAY_ITEM", "value": templates.text_of(item.value)})
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
        "volumeMounts": [{"name": INPUTS_VOLUME, "mountPath": INPUTS_DIR, "readOnly": True}],
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
    inputs_volume = {
        "name": INPUTS_VOLUME,
        "downwardAPI": {
            "items": [
                {
                    "path": "inputs.json",
                    "fieldRef": {"fieldPath": f"metadata.annotations['{ANNOTATION_INPUTS}']"},
                }
            ]
        },
    }
    volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") != INPUTS_VOLUME]
    pod_spec.update(
        {"restartPolicy": "Never", "containers": [container], "volumes": [*volumes, inputs_volume]}
    )
    account = service_account(task)
    if account:
        pod_spec["serviceAccountName"] = account
    job_spec: JSON = {
        "backoffLimit": 0,  # the operator owns retries
        "template": {
            "metadata": {"labels": labels, "annotations": {ANNOTATION_INPUTS: given}},
            "spec": pod_spec,
        },
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
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": job_spec,
    }
