"""Reconcile one Schedule: parse it, ``core.schedules.tick``, carry it out (create the
runs, stop the replaced ones, delete past the history limits, write the status)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from headway.core import schedules
from headway.core.actions import Emit
from headway.models.base import Condition, parse_time, validation_message
from headway.models.schedule import ScheduleSpec, ScheduleStatus
from headway.shell import store
from headway.shell.kube import Kube, KubeError

JSON = dict[str, Any]
log = logging.getLogger("headway.schedules")


def reconcile_schedule(
    kube: Kube, obj: JSON, executions: Sequence[Mapping[str, Any]], now: datetime.datetime
) -> None:
    meta = obj["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    try:
        status = ScheduleStatus.model_validate(obj.get("status") or {})
    except ValidationError as error:
        # A status changed by hand: start again from now (never re-run the past).
        log.warning("schedule %s: status unreadable (%s): from now on", name, error)
        status = ScheduleStatus(last_schedule_time=now)
    try:
        spec = ScheduleSpec.model_validate(obj.get("spec") or {})
        created = parse_time(meta.get("creationTimestamp")) or now
        runs = schedules.runs_of([e for e in executions if _in(e, namespace)], name)
        result = schedules.tick(name, namespace, spec, status, created, runs, now)
    except (ValidationError, schedules.ScheduleError) as error:
        message = validation_message(error) if isinstance(error, ValidationError) else str(error)
        _write(kube, obj, status, "InvalidSpec", message, now)
        return
    for manifest in result.create:
        try:
            store.create_execution(kube, namespace, manifest)
        except KubeError as error:
            if error.status != 409:  # 409: created before (a pass, a backfill): never twice
                raise
    for run in result.stop:
        store.stop_execution(kube, namespace, run)
    for run in result.delete:
        store.delete_run(kube, namespace, run)
    if result.events:
        events = [Emit(kind, reason, message) for kind, reason, message in result.events]  # type: ignore[arg-type]
        store.emit(kube, obj, events, now)
    _write(kube, obj, result.status, "Scheduled", "", now)


def _in(execution: Mapping[str, Any], namespace: str) -> bool:
    return bool((execution.get("metadata") or {}).get("namespace") == namespace)


def _write(
    kube: Kube, obj: JSON, status: ScheduleStatus, reason: str, message: str, now: datetime.datetime
) -> None:
    ready = "True" if reason == "Scheduled" else "False"
    status.conditions = [
        Condition(type="Ready", status=ready, reason=reason, message=message or None)
    ]
    status.observed_generation = obj["metadata"].get("generation")
    wire = status.wire()
    if wire == (obj.get("status") or {}):
        return
    try:
        store.replace_status(kube, obj, wire)
    except store.Conflict:
        log.debug("schedule %s changed meanwhile; next tick", obj["metadata"]["name"])
