"""Reconcile one Execution: load, decide (core), apply (shell). Also Workflow status."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from headway.core.facts import observe_job
from headway.core.plan import Action, Context, Emit, plan
from headway.core.render import Owner
from headway.core.requests import apply_requests, complete_requests
from headway.core.spec import workflow_problems
from headway.core.start import not_ready, set_condition, start
from headway.handlers.recovery import parse_request, recover_by_annotation, write_request_updates
from headway.models.base import API_VERSION, Condition
from headway.models.execution import ExecutionSpec, ExecutionStatus
from headway.models.workflow import WorkflowSpec, WorkflowStatus
from headway.shell import store
from headway.shell.kube import Kube, path_of

JSON = dict[str, Any]
Clock = Callable[[], datetime.datetime]
log = logging.getLogger("headway.reconcile")
NOT_STARTED_RECHECK = datetime.timedelta(seconds=15)
CONFLICT_RETRIES = 5


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors()
    )


def _referenced(kube: Kube, namespace: str, spec: ExecutionSpec) -> WorkflowSpec | str | None:
    """The referenced Workflow's spec; a message if it is malformed; None if absent."""
    if spec.workflow_ref is None:
        return None
    workflow = store.get_workflow(kube, namespace, spec.workflow_ref.name)
    if workflow is None:
        return None
    try:
        return WorkflowSpec.model_validate(workflow.get("spec") or {})
    except ValidationError as error:
        return validation_message(error)


def reconcile_execution(
    kube: Kube, namespace: str, name: str, clock: Clock = utcnow
) -> datetime.datetime | None:
    """Bring one Execution a step forward; return when to look again (None: on events only)."""
    for _ in range(CONFLICT_RETRIES):
        try:
            return _reconcile_once(kube, namespace, name, clock)
        except store.Conflict:
            log.debug("execution %s/%s changed while reconciling; again", namespace, name)
    raise store.Conflict(f"execution {namespace}/{name}: too many conflicting updates")


def _reconcile_once(
    kube: Kube, namespace: str, name: str, clock: Clock
) -> datetime.datetime | None:
    obj = store.get_execution(kube, namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    meta = obj["metadata"]
    path = store.executions_path(namespace, name)
    old = ExecutionStatus.model_validate(obj.get("status") or {})
    now = clock()
    try:
        spec = ExecutionSpec.model_validate(obj.get("spec") or {})
    except ValidationError as error:
        _write(
            kube,
            obj,
            path,
            old,
            not_ready(old, "InvalidSpec", validation_message(error), now),
            [],
            now,
        )
        return None
    status = old
    if status.workflow is None:
        referenced = _referenced(kube, namespace, spec)
        if isinstance(referenced, str):
            status = not_ready(status, "InvalidWorkflow", referenced, now)
        else:
            status = start(spec, status, referenced, now)
    raw_requests = store.list_requests(kube, namespace, name)
    requests = [parse_request(r) for r in raw_requests]
    status, events = recover_by_annotation(obj, status, now)
    applied = apply_requests(status, requests, now)
    status, events = applied.status, events + applied.events
    actions: list[Action] = []
    wake: datetime.datetime | None = now + NOT_STARTED_RECHECK  # the Workflow may appear
    if status.workflow is not None and status.params is not None:
        context = Context(
            Owner(name, namespace, meta["uid"]), status.workflow, status.params, spec.auto_recovery
        )
        jobs, pods = store.list_attempts(kube, namespace, meta["uid"])
        observed = {job.name: job for job in (observe_job(j, pods) for j in jobs)}
        result = plan(context, status, observed, now)
        status, actions, wake = result.status, result.actions, result.wake_at
    updates = complete_requests(status, requests, applied.updates, now)
    store.apply(kube, namespace, [a for a in actions if not isinstance(a, Emit)])
    _write(kube, obj, path, old, status, events + [a for a in actions if isinstance(a, Emit)], now)
    write_request_updates(kube, namespace, raw_requests, updates)
    return wake


def _write(
    kube: Kube,
    obj: JSON,
    path: str,
    old: ExecutionStatus,
    new: ExecutionStatus,
    events: list[Emit],
    now: datetime.datetime,
) -> None:
    new.observed_generation = obj["metadata"].get("generation")
    if new.wire() != old.wire():
        store.patch_status(kube, path, obj["metadata"]["resourceVersion"], new.wire())
    store.emit(kube, obj, events, now)


def reconcile_workflow(kube: Kube, obj: JSON, clock: Clock = utcnow) -> None:
    """Set a Workflow's ``Ready`` condition (with every problem named) and task count."""
    meta = obj["metadata"]
    old = WorkflowStatus.model_validate(obj.get("status") or {})
    try:
        spec = WorkflowSpec.model_validate(obj.get("spec") or {})
        problems = workflow_problems(spec)
        count: int | None = len(spec.tasks)
    except ValidationError as error:
        problems, count = [validation_message(error)], None
    ready = Condition(
        type="Ready",
        status="False" if problems else "True",
        reason="Invalid" if problems else "Valid",
        message="; ".join(problems) if problems else "the workflow is a valid DAG",
        last_transition_time=clock(),
        observed_generation=meta.get("generation"),
    )
    new = old.model_copy(deep=True)
    new.task_count, new.observed_generation = count, meta.get("generation")
    new.conditions = set_condition(new.conditions, ready)
    if new.wire() != old.wire():
        kube.patch(
            path_of(API_VERSION, "workflows", meta["namespace"], meta["name"]) + "/status",
            {"status": new.wire()},
        )
