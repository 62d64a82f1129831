"""CustomResourceDefinitions generated from the models: one source of truth.

Pydantic's JSON Schema is turned into a Kubernetes *structural* schema:
references inlined, ``Optional`` as ``nullable``, free-form objects marked
``x-kubernetes-preserve-unknown-fields``, titles and defaults dropped (the
operator applies defaults when it parses, so stored objects stay as written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from headway.models.base import GROUP, VERSION
from headway.models.execution import ExecutionSpec, ExecutionStatus
from headway.models.pages import OutputPageSpec
from headway.models.recovery import RecoveryRequestSpec, RecoveryRequestStatus
from headway.models.schedule import ScheduleSpec, ScheduleStatus
from headway.models.workflow import WorkflowSpec, WorkflowStatus

JSON = dict[str, Any]
CATEGORY = "headway"
KEEP = (
    "type",
    "description",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-validations",
)


def structural(schema: JSON, defs: dict[str, JSON]) -> JSON:
    """One JSON Schema node as a structural OpenAPI v3 node."""
    if "$ref" in schema:
        target = structural(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        if "description" in schema:
            target["description"] = schema["description"]
        return target
    variants = schema.get("anyOf")
    if variants:
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            # Several types (a list or a text to substitute): the model checks it.
            node: JSON = {"x-kubernetes-preserve-unknown-fields": True}
            if "description" in schema:
                node["description"] = schema["description"]
            if len(concrete) < len(variants):
                node["nullable"] = True
            return node
        node = structural(concrete[0], defs)
        node["nullable"] = True
        if "description" in schema:
            node["description"] = schema["description"]
        return node
    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]], "type": "string"}
    if "exclusiveMinimum" in schema:
        schema = {**schema, "minimum": schema["exclusiveMinimum"]}
    node = {k: schema[k] for k in KEEP if k in schema}
    kind = schema.get("type")
    if kind is None:  # Any
        return {"x-kubernetes-preserve-unknown-fields": True, **node}
    if kind == "object":
        if "properties" in schema:
            node["properties"] = {k: structural(v, defs) for k, v in schema["properties"].items()}
            if schema.get("required"):
                node["required"] = list(schema["required"])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            node["additionalProperties"] = structural(extra, defs)
        elif "properties" not in schema:
            node["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        node["items"] = structural(schema.get("items", {}), defs)
    return node


def model_schema(model: type[BaseModel]) -> JSON:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return structural(schema, schema.get("$defs", {}))


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel] | None  # None: no status (written whole, by the operator)
    columns: tuple[tuple[str, str, str], ...]  # name, type, jsonPath
    spec_rules: tuple[JSON, ...] = field(default=())


AGE = ("Age", "date", ".metadata.creationTimestamp")
KINDS = (
    Kind(
        "Workflow",
        "workflows",
        ("wf",),
        WorkflowSpec,
        WorkflowStatus,
        (
            ("Tasks", "integer", ".status.taskCount"),
            ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
            AGE,
        ),
    ),
    Kind(
        "Execution",
        "executions",
        ("exe", "exec"),
        ExecutionSpec,
        ExecutionStatus,
        (("Phase", "string", ".status.phase"), ("Progress", "string", ".status.progress"), AGE),
        (
            {
                "rule": "has(self.workflowRef) != has(self.workflow)",
                "message": "set exactly one of workflowRef and workflow",
            },
        ),
    ),
    Kind(
        "RecoveryRequest",
        "recoveryrequests",
        ("rr",),
        RecoveryRequestSpec,
        RecoveryRequestStatus,
        (
            ("Execution", "string", ".spec.executionRef.name"),
            ("Mode", "string", ".spec.mode"),
            ("Task", "string", ".spec.task"),
            ("Phase", "string", ".status.phase"),
            ("By", "string", ".status.requestedBy"),
            AGE,
        ),
        (
            {
                "rule": "self.mode == 'Flow' || has(self.task)",
                "message": "task is required for Step and ProvideOutputs",
            },
            {
                "rule": "self.mode != 'ProvideOutputs' || has(self.outputs)",
                "message": "outputs are required for ProvideOutputs",
            },
            {"rule": "self == oldSelf", "message": "a RecoveryRequest's spec cannot be changed"},
        ),
    ),
    Kind(
        "Schedule",
        "schedules",
        ("sched",),
        ScheduleSpec,
        ScheduleStatus,
        (
            ("Schedule", "string", ".spec.schedule"),
            ("Next", "date", ".status.nextScheduleTime"),
            ("Last", "date", ".status.lastScheduleTime"),
            ("Active", "integer", ".status.activeCount"),
            AGE,
        ),
    ),
    Kind(
        "OutputPage",
        "outputpages",
        ("op",),
        OutputPageSpec,
        None,
        (
            ("Execution", "string", ".spec.execution"),
            ("Task", "string", ".spec.task"),
            ("Page", "integer", ".spec.page"),
            AGE,
        ),
    ),
)


def crd(kind: Kind) -> JSON:
    spec = model_schema(kind.spec)
    if kind.spec_rules:
        spec["x-kubernetes-validations"] = list(kind.spec_rules)
    properties: JSON = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if kind.status is not None:
        properties["status"] = model_schema(kind.status)
    schema = {"type": "object", "properties": properties, "required": ["spec"]}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    **({"subresources": {"status": {}}} if kind.status is not None else {}),
                    "additionalPrinterColumns": [
                        {"name": n, "type": t, "jsonPath": p} for n, t, p in kind.columns
                    ],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    header = "# Generated from operator/headway/models by `make crds`. Do not edit.\n"
    return {
        f"{kind.plural}.{GROUP}.yaml": header
        + yaml.safe_dump(crd(kind), sort_keys=False, width=100)
        for kind in KINDS
    }


PLURALS = {kind.kind: kind.plural for kind in KINDS}  # e.g. "Workflow" -> "workflows"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
