"""Reconcile one Execution: read the view (shell), ``decide`` (core), carry it out (shell).
Also a Workflow's status."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

from headway.core.actions import CreateJob, DeleteJob
from headway.core.decide import Decision, View, decide
from headway.core.facts import observe_jobs
from headway.core.plan import Launches
from headway.core.requests import RequestUpdate
from headway.core.spec import workflow_problems
from headway.core.start import set_condition
from headway.handlers import parse
from headway.models.base import Condition, rfc3339
from headway.models.execution import ExecutionStatus
from headway.models.workflow import WorkflowStatus
from headway.shell import store
from headway.shell.kube import Kube

JSON = dict[str, Any]
Clock = Callable[[], datetime.datetime]
log = logging.getLogger("headway.reconcile")
CONFLICT_RETRIES = 5
LAUNCH_ROUNDS = 5  # decide again after refused or deferred creates, at most this often


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def reconcile_execution(
    kube: Kube, namespace: str, name: str, audit_key: bytes | None, clock: Clock = utcnow
) -> datetime.datetime | None:
    """Bring one Execution a step forward; return when to look again (None: on events only)."""
    for _ in range(CONFLICT_RETRIES):
        try:
            return _reconcile_once(kube, namespace, name, audit_key, clock)
        except store.Conflict:
            log.debug("execution %s/%s changed while reconciling; again", namespace, name)
    raise store.Conflict(f"execution {namespace}/{name}: too many conflicting updates")


def load_view(
    kube: Kube, obj: JSON, audit_key: bytes | None
) -> tuple[View, ExecutionStatus, list[JSON]]:
    """What the cluster shows of one Execution, parsed; also its old status and the raw
    requests (their statuses are replaced against what was read)."""
    meta, namespace = obj["metadata"], obj["metadata"]["namespace"]
    status = ExecutionStatus.model_validate(obj.get("status") or {})
    spec = parse.execution_spec(obj)
    workflow = None
    if status.workflow is None and not isinstance(spec, str) and spec.workflow_ref:
        workflow = parse.workflow_spec(store.get_workflow(kube, namespace, spec.workflow_ref.name))
    jobs = {}
    if status.workflow is not None:
        found_jobs, pods = store.list_attempts(kube, namespace, meta["uid"])
        jobs = observe_jobs(found_jobs, pods)
    raw_requests = store.list_requests(kube, namespace, meta["name"])
    view = View(
        name=meta["name"],
        namespace=namespace,
        uid=meta["uid"],
        spec=spec,
        status=status,
        generation=meta.get("generation"),
        workflow=workflow,
        jobs=jobs,
        requests=[parse.request(r, audit_key) for r in raw_requests],
        recover=parse.recover_annotation(obj, audit_key),
    )
    return view, status, raw_requests


def _merge(old: Launches, new: Launches) -> Launches:
    return Launches(
        {**old.refused, **new.refused}, {**old.deferred, **new.deferred}, old.created | new.created
    )


def carry_out_jobs(kube: Kube, view: View, now: datetime.datetime) -> Decision:
    """Decide, delete and create Jobs; when the API server refuses or defers a create,
    decide again knowing it, so the status written says what really happened."""
    decision = decide(view, now)
    store.delete_jobs(kube, view.namespace, [j for j in decision.jobs if isinstance(j, DeleteJob)])
    launches = Launches()
    for _ in range(LAUNCH_ROUNDS):
        creates = [j for j in decision.jobs if isinstance(j, CreateJob)]
        tried = launches.created | set(launches.refused) | set(launches.deferred)
        fresh = [c for c in creates if c.name not in tried]
        if not fresh:
            break
        result = store.create_jobs(kube, view.namespace, view.uid, fresh)
        launches = _merge(launches, result)
        if not result.refused and not result.deferred:
            break
        decision = decide(dataclasses.replace(view, launches=launches), now)
    return decision


def _reconcile_once(
    kube: Kube, namespace: str, name: str, audit_key: bytes | None, clock: Clock
) -> datetime.datetime | None:
    obj = store.get_execution(kube, namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    view, old, raw_requests = load_view(kube, obj, audit_key)
    now = clock()
    decision = carry_out_jobs(kube, view, now)
    if decision.status.wire() != old.wire():
        store.replace_status(kube, obj, decision.status.wire())
    write_requests(kube, raw_requests, decision.requests)
    store.emit(kube, obj, decision.events, now)
    return decision.wake_at


def request_status(update: RequestUpdate) -> JSON:
    status: JSON = {"phase": update.phase, "message": update.message}
    if update.requested_by:
        status["requestedBy"] = update.requested_by
    if update.tasks:
        status["tasks"] = list(update.tasks)
    if update.applied_at:
        status["appliedAt"] = rfc3339(update.applied_at)
    if update.completed_at:
        status["completedAt"] = rfc3339(update.completed_at)
    return status


def write_requests(kube: Kube, raw: list[JSON], updates: dict[str, RequestUpdate]) -> None:
    """Replace each request's status that differs from what it shows; a request changed
    meanwhile is left for the next pass (its change requeues the Execution)."""
    by_name = {r["metadata"]["name"]: r for r in raw}
    for name, update in updates.items():
        obj, status = by_name.get(name), request_status(update)
        if obj is None or obj.get("status") == status:
            continue
        try:
            store.replace_request_status(kube, obj, status)
        except store.Conflict:
            log.debug("request %s changed meanwhile; next pass", name)


def reject_orphan_request(kube: Kube, obj: JSON, now: datetime.datetime) -> None:
    """A request naming no existing Execution: Rejected, saying so."""
    meta = obj["metadata"]
    name = ((obj.get("spec") or {}).get("executionRef") or {}).get("name", "")
    update = RequestUpdate(
        meta["name"],
        "Rejected",
        f'execution "{name}" not found in namespace "{meta["namespace"]}"',
        completed_at=now,
    )
    write_requests(kube, [obj], {meta["name"]: update})


def route_request(kube: Kube, obj: JSON) -> tuple[str, str] | None:
    """The Execution a request waits on, or None (finished, or Rejected here as orphaned)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed", "Rejected"):
        return None
    name = ((obj.get("spec") or {}).get("executionRef") or {}).get("name", "")
    if store.get_execution(kube, meta["namespace"], name) is not None:
        return meta["namespace"], name
    reject_orphan_request(kube, obj, utcnow())
    return None


def _key(meta: JSON) -> tuple[str, str]:
    return meta["namespace"], meta["name"]


def reconcile_workflow(kube: Kube, obj: JSON, clock: Clock = utcnow) -> None:
    """Set a Workflow's ``Ready`` condition (with every problem named) and task count."""
    meta = obj["metadata"]
    old = WorkflowStatus.model_validate(obj.get("status") or {})
    spec = parse.workflow_spec(obj)
    if isinstance(spec, str) or spec is None:
        problems, count = [spec or "no spec"], None
    else:
        problems, count = workflow_problems(spec), len(spec.tasks)
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
        try:
            store.replace_status(kube, obj, new.wire())
        except store.Conflict:
            log.debug("workflow %s/%s changed meanwhile; its next event", *_key(meta))
