"""Parse what the API server holds into the core's typed values. No I/O, no decisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from headway.core import identity
from headway.core.decide import RecoverAnnotation
from headway.core.recovery import Order
from headway.core.requests import Request
from headway.models.base import validation_message
from headway.models.execution import ExecutionSpec
from headway.models.recovery import RecoveryRequestSpec
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def execution_spec(obj: Mapping[str, Any]) -> ExecutionSpec | str:
    try:
        return ExecutionSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        return validation_message(error)


def workflow_spec(obj: Mapping[str, Any] | None) -> WorkflowSpec | str | None:
    """A Workflow's spec; a message if it is malformed; None if there is no Workflow."""
    if obj is None:
        return None
    try:
        return WorkflowSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        return validation_message(error)


def definer(obj: Mapping[str, Any] | None, key: bytes | None, kind: str) -> str | None:
    """Who defined what this Workflow (its spec) or Execution (its inline workflow) would
    run, if the webhook's signature proves it was checked; else None."""
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    definition = spec if kind == "Workflow" else spec.get("workflow")
    if definition is None:
        return None
    return identity.definer(key, kind, obj["metadata"], definition)


def recover_annotation(obj: Mapping[str, Any], key: bytes | None) -> RecoverAnnotation:
    meta, found = obj["metadata"], annotations_of(obj)
    fields = identity.recover_fields(meta.get("namespace", ""), meta["name"], meta["uid"], found)
    by = identity.requester(key, fields, found, identity.ANNOTATION_RECOVER_BY)
    return RecoverAnnotation(found.get(identity.ANNOTATION_RECOVER), by)


def request(obj: Mapping[str, Any], key: bytes | None) -> Request:
    """A Request for the core; one whose spec does not parse carries the problem."""
    meta, found = obj["metadata"], annotations_of(obj)
    by = None
    for name in identity.admitted_names(meta):
        fields = identity.request_fields(meta.get("namespace", ""), name, obj.get("spec"), found)
        by = by or identity.requester(key, fields, found, identity.ANNOTATION_REQUESTED_BY)
    phase = (obj.get("status") or {}).get("phase")
    common: JSON = {"name": meta["name"], "uid": meta["uid"], "phase": phase}
    try:
        spec = RecoveryRequestSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        problem = f"invalid spec: {validation_message(error)}"
        return Request(order=Order(mode="Flow", by=by), problem=problem, **common)
    order = Order(
        mode=spec.mode,
        task=spec.task,
        outputs=spec.outputs,
        update_execution_phase=spec.update_execution_phase,
        items=tuple(spec.items) if spec.items is not None else None,
        by=by,
        request=meta["name"],
        request_uid=meta["uid"],
    )
    return Request(order=order, **common)
