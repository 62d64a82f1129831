"""RecoveryRequests and the recover annotation: parse them for the core, write their status."""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import ValidationError

from headway.core.plan import Emit
from headway.core.recovery import Order, recover_by_token
from headway.core.requests import Request, RequestUpdate
from headway.models.base import rfc3339
from headway.models.execution import ExecutionStatus
from headway.models.recovery import RecoveryRequestSpec
from headway.shell import store
from headway.shell.kube import Kube

JSON = dict[str, Any]
ANNOTATION_RECOVER = "headway.dev/recover"
ANNOTATION_RECOVER_BY = "headway.dev/recover-requested-by"
ANNOTATION_REQUESTED_BY = "headway.dev/requested-by"


def requested_by(obj: JSON, annotation: str) -> str | None:
    """The user the admission webhook recorded (clients cannot set or change it)."""
    return (obj["metadata"].get("annotations") or {}).get(annotation)


def parse_request(obj: JSON) -> Request:
    """A Request for the core; one whose spec does not parse carries the problem."""
    meta, status = obj["metadata"], obj.get("status") or {}
    applied = status.get("appliedAt")
    common: dict[str, Any] = {
        "name": meta["name"],
        "uid": meta["uid"],
        "phase": status.get("phase"),
        "tasks": tuple(status.get("tasks") or ()),
        "applied_at": datetime.datetime.fromisoformat(applied.replace("Z", "+00:00"))
        if applied
        else None,
    }
    try:
        spec = RecoveryRequestSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        problem = f"invalid spec: {error.errors()[0]['msg']}"
        return Request(order=Order(mode="Flow"), problem=problem, **common)
    order = Order(
        mode=spec.mode,
        task=spec.task,
        outputs=spec.outputs,
        update_execution_phase=spec.update_execution_phase,
        by=requested_by(obj, ANNOTATION_REQUESTED_BY),
        request=meta["name"],
        request_uid=meta["uid"],
    )
    return Request(order=order, **common)


def recover_by_annotation(
    obj: JSON, status: ExecutionStatus, now: datetime.datetime
) -> tuple[ExecutionStatus, list[Emit]]:
    """The recover annotation's value and who set it, handed to the core."""
    token = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_RECOVER)
    return recover_by_token(status, token, requested_by(obj, ANNOTATION_RECOVER_BY), now)


def write_request_updates(
    kube: Kube, namespace: str, requests: list[JSON], updates: dict[str, RequestUpdate]
) -> None:
    by_name = {r["metadata"]["name"]: r for r in requests}
    for name, update in updates.items():
        status: JSON = {"phase": update.phase, "message": update.message}
        obj = by_name.get(name)
        who = requested_by(obj, ANNOTATION_REQUESTED_BY) if obj else None
        if who:
            status["requestedBy"] = who
        if update.tasks:
            status["tasks"] = list(update.tasks)
        if update.applied_at:
            status["appliedAt"] = rfc3339(update.applied_at)
        if update.completed_at:
            status["completedAt"] = rfc3339(update.completed_at)
        store.patch_request_status(kube, namespace, name, status)


def route_request(kube: Kube, obj: JSON) -> tuple[str, str] | None:
    """The Execution key a pending request belongs to; a request naming no existing
    Execution is Rejected here (and None returned)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed", "Rejected"):
        return None
    name = ((obj.get("spec") or {}).get("executionRef") or {}).get("name", "")
    if store.get_execution(kube, meta["namespace"], name) is not None:
        return meta["namespace"], name
    update = RequestUpdate(
        meta["name"],
        "Rejected",
        f'execution "{name}" not found in namespace "{meta["namespace"]}"',
        completed_at=datetime.datetime.now(datetime.UTC),
    )
    write_request_updates(kube, meta["namespace"], [obj], {meta["name"]: update})
    return None
