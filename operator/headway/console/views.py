"""What the console's API returns, as pure functions of Kubernetes objects, and the
check of a recovery asked for from the page (the server checks what the page did)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from headway.core.facts import latest_pods, observe_job
from headway.core.outputs import provided_problem
from headway.core.preview import HOLDS, holds, offers, preview
from headway.core.recovery import Order
from headway.core.schedules import LABEL_SCHEDULE
from headway.models.execution import ExecutionStatus

JSON = dict[str, Any]
MODES = ("Flow", "Step", "ProvideOutputs")


def summary(execution: Mapping[str, Any]) -> JSON:
    meta, status = execution["metadata"], execution.get("status") or {}
    return {
        "name": meta["name"],
        "workflow": ((execution.get("spec") or {}).get("workflowRef") or {}).get("name"),
        "phase": status.get("phase") or "Pending",
        "progress": status.get("progress") or "-",
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "created": meta.get("creationTimestamp"),
    }


def detail(execution: Mapping[str, Any], requests: Sequence[Mapping[str, Any]] = ()) -> JSON:
    """The Execution for the page: its summary, the DAG of its snapshot, each task's
    status, the progress path, the recovery records, what recoveries it offers, and its
    RecoveryRequests as they stand (the page follows a request it made from these)."""
    status = execution.get("status") or {}
    workflow = status.get("workflow") or {}
    tasks = [
        {
            "name": t["name"],
            "dependencies": list(t.get("dependencies") or []),
            "when": t.get("when"),
            "trigger": t.get("trigger") or "AllSucceeded",
            "final": final,
        }
        for final, group in ((False, workflow.get("tasks")), (True, workflow.get("finally")))
        for t in group or []
    ]
    return {
        **summary(execution),
        "namespace": execution["metadata"].get("namespace"),
        "graph": tasks,
        "tasks": {name: _for_page(state) for name, state in (status.get("tasks") or {}).items()},
        "history": status.get("history") or [],
        "requests": (status.get("recovery") or {}).get("requests") or [],
        "conditions": status.get("conditions") or [],
        # The recoveries the engine would accept now, by task ("" for the whole run):
        # the page shows these buttons and confirmations, and derives none itself.
        "recoveryRequests": [request_view(r) for r in requests],
        "holds": [
            dataclasses.asdict(h)
            for h in holds(
                (execution.get("status") or {}).get("phase"),
                bool((execution.get("spec") or {}).get("suspend")),
                stopping(execution),
            )
        ],
        "stoppedAt": (execution.get("status") or {}).get("stoppedAt"),
        "offers": {
            task: [dataclasses.asdict(offer) for offer in found]
            for task, found in offers(_status(execution), stopping(execution)).items()
        },
    }


def request_view(request: Mapping[str, Any]) -> JSON:
    spec, status = request.get("spec") or {}, request.get("status") or {}
    return {
        "name": request["metadata"]["name"],
        "mode": spec.get("mode"),
        "task": spec.get("task"),
        "items": spec.get("items"),
        "phase": status.get("phase") or "Pending",
        "message": status.get("message"),
        "requestedBy": status.get("requestedBy"),
    }


def _for_page(state: Mapping[str, Any]) -> JSON:
    """A task's status as the page needs it: a map's item keys (10 characters an item,
    only the engine compares them) left out."""
    found = dict(state)
    if isinstance(found.get("map"), dict):
        found["map"] = {k: v for k, v in found["map"].items() if k != "keys"}
    return found


def items_of(raw: Any) -> tuple[int, ...] | str | None:
    """Item numbers as the page sends them (a list, or ``3,7`` in a query), or what is
    wrong with them."""
    if raw is None or raw == "":
        return None
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, list) or not parts:
        return "items must be a list of item numbers"
    found = []
    for part in parts:
        text = str(part).strip()
        if isinstance(part, bool) or not text.isdigit():
            return f"items must be item numbers (0, 1, ...), not {part!r}"
        found.append(int(text))
    return tuple(found)


def stopping(execution: Mapping[str, Any]) -> bool:
    """The Execution's ``spec.stop``: no recovery is offered while it is set."""
    return bool((execution.get("spec") or {}).get("stop"))


def _status(execution: Mapping[str, Any]) -> ExecutionStatus:
    try:
        return ExecutionStatus.model_validate(execution.get("status") or {})
    except ValidationError:
        return ExecutionStatus()  # nothing can be offered on a status that does not parse


def preview_of(
    execution: Mapping[str, Any], mode: str, task: str | None, items: str | None = None
) -> JSON | str:
    """What recovering ``execution`` in ``mode`` (on ``task``, its ``items``) would do
    now, or what is wrong with the question."""
    if mode not in MODES:
        return f"mode must be one of {', '.join(MODES)}"
    chosen = items_of(items)
    if isinstance(chosen, str):
        return chosen
    outputs: JSON | None = {} if mode == "ProvideOutputs" else None
    order = Order(mode, task=task or None, outputs=outputs, items=chosen)  # type: ignore[arg-type]
    return dataclasses.asdict(preview(_status(execution), order, stopping=stopping(execution)))


def attempts(jobs: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """Each attempt of a task, from its Job and newest pod, newest first."""
    newest = latest_pods(pods)
    found = []
    for job in jobs:
        name = job["metadata"]["name"]
        seen = observe_job(job, newest.get(name))
        pod = newest.get(name)
        found.append(
            {
                "attempt": seen.attempt,
                "job": name,
                "pod": pod["metadata"]["name"] if pod else None,
                "outcome": seen.outcome,
                "exitCode": seen.exit_code,
                "reason": seen.reason or seen.stalled or seen.pending_reason,
                "message": seen.message,
                "startedAt": seen.started_at.isoformat() if seen.started_at else None,
                "finishedAt": seen.finished_at.isoformat() if seen.finished_at else None,
            }
        )
    return sorted(found, key=lambda a: -a["attempt"])


def request_spec(execution: str, body: Mapping[str, Any]) -> JSON | str:
    """The RecoveryRequest spec the page asked for, or what is wrong with it."""
    mode = body.get("mode")
    if mode not in MODES:
        return f"mode must be one of {', '.join(MODES)}"
    spec: JSON = {"executionRef": {"name": execution}, "mode": mode}
    task = body.get("task")
    if task is not None:
        if not isinstance(task, str) or not task:
            return "task must be a task's name"
        spec["task"] = task
    elif mode != "Flow":
        return f"{mode} needs a task"
    if mode == "ProvideOutputs":
        outputs = body.get("outputs")
        problem = provided_problem(outputs)
        if problem:
            return problem
        spec["outputs"] = outputs
    if mode == "Step" and body.get("updateExecutionPhase"):
        spec["updateExecutionPhase"] = True
    chosen = items_of(body.get("items"))
    if isinstance(chosen, str):
        return chosen
    if chosen is not None:
        spec["items"] = list(chosen)
    return spec


def hold_patch(body: Mapping[str, Any]) -> JSON | str:
    """The spec patch for a stop, suspend or resume the page asks for, or what is wrong."""
    action = body.get("action")
    if not isinstance(action, str) or action not in HOLDS:
        return f"action must be one of {', '.join(HOLDS)}"
    return {"spec": dict(HOLDS[action].spec)}


def schedules_view(
    found: Sequence[Mapping[str, Any]], executions: Sequence[Mapping[str, Any]]
) -> list[JSON]:
    """Each Schedule for the page: its cron and zone, next and last times, active and
    missed runs, and its runs (newest first) with their phases."""
    by_schedule: dict[str, list[JSON]] = {}
    for execution in executions:
        label = ((execution.get("metadata") or {}).get("labels") or {}).get(LABEL_SCHEDULE)
        if label:
            by_schedule.setdefault(label, []).append(summary(execution))
    shown = []
    for obj in sorted(found, key=lambda o: str(o["metadata"]["name"])):
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        name = obj["metadata"]["name"]
        shown.append(
            {
                "name": name,
                "schedule": spec.get("schedule"),
                "timeZone": spec.get("timeZone", "UTC"),
                "suspend": bool(spec.get("suspend")),
                "concurrencyPolicy": spec.get("concurrencyPolicy", "Forbid"),
                "next": status.get("nextScheduleTime"),
                "last": status.get("lastScheduleTime"),
                "active": list(status.get("active") or []),
                "missed": list(status.get("missed") or []),
                "runs": sorted(by_schedule.get(name, []), key=lambda r: r["name"], reverse=True),
            }
        )
    return shown
