"""What ``kubectl headway`` prints, as pure functions of the objects and ``now``: the
task tree in DAG order, the header, the progress path and the executions list, built
as rich renderables (the caller prints them)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from headway.core import items
from headway.core.history import AUDIT_EVENTS
from headway.core.recovery import graph_of
from headway.core.schedules import LABEL_SCHEDULE
from headway.models.base import parse_time
from headway.models.execution import ExecutionStatus, HistoryEntry, MapStatus, TaskStatus
from headway.models.workflow import Task

JSON = dict[str, Any]
# (symbol, style) per phase, as Argo users know them.
PHASES: dict[str, tuple[str, str]] = {
    "Succeeded": ("✔", "green"),
    "Failed": ("✖", "red"),
    "Blocked": ("⊘", "magenta"),
    "Running": ("●", "cyan"),
    "Retrying": ("↻", "yellow"),
    "Pending": ("◷", "dim"),
    "Paused": ("⏸", "yellow"),
    "Skipped": ("↷", "blue"),
    "Stopped": ("■", "red"),
    "Suspended": ("⏸", "blue"),
}


def phase_text(phase: str | None, held: bool = False) -> Text:
    name = phase or "Pending"
    symbol, style = PHASES.get(name, ("?", "white"))
    label = f"{symbol} {name}" + (" (held)" if held else "")
    return Text(label, style=style)


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m04s``, ``12s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = int(max(0, seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def span(
    started: datetime.datetime | None, finished: datetime.datetime | None, now: datetime.datetime
) -> float | None:
    if started is None:
        return None
    return ((finished or now) - started).total_seconds()


def age(created: str | None, now: datetime.datetime) -> str:
    if not created:
        return "-"
    moment = parse_time(created)
    return duration((now - moment).total_seconds()) if moment else "-"


def stamp(moment: datetime.datetime | None) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def status_of(execution: Mapping[str, Any]) -> ExecutionStatus:
    return ExecutionStatus.model_validate(execution.get("status") or {})


def _outputs_summary(outputs: Mapping[str, Any] | None, limit: int = 40) -> str:
    if not outputs:
        return "-"
    text = json.dumps(outputs, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_label(name: str, state: TaskStatus, now: datetime.datetime, wide: bool,
               join_of: tuple[str, ...] = (), spec: Task | None = None) -> Text:  # fmt: skip
    """One task's line: name, phase, attempts, duration, Job, reason and message; its
    trigger (when not the default) and ``when``."""
    label = Text()
    label.append(name, style="bold")
    if join_of:
        label.append(f" (join of {', '.join(join_of)})", style="dim")
    label.append("  ")
    label.append_text(phase_text(state.phase, bool(state.held)))
    if state.map is not None:
        label.append(f"  {items_summary(state.map)}")
    else:
        label.append(f"  attempts {state.attempts}")
    label.append(f"  {duration(span(state.started_at, state.finished_at, now))}")
    if state.job:
        label.append(f"  job {state.job}", style="dim")
    if state.reason or state.message:
        reason = ": ".join(p for p in (state.reason, state.message) if p)
        label.append(f"  {reason}", style=PHASES.get(state.phase, ("", "white"))[1])
    if spec is not None and spec.trigger != "AllSucceeded":
        label.append(f"  trigger {spec.trigger}", style="dim")
    if spec is not None and spec.when is not None and state.phase != "Skipped":
        label.append(f"  when {spec.when}", style="dim")
    if wide:
        key = (state.idempotency_key or "-")[:12]
        label.append(f"  key {key}  outputs {_outputs_summary(state.outputs)}", style="dim")
        label.append(f"  auto-recoveries {state.auto_recoveries}", style="dim")
    return label


def items_summary(state: MapStatus) -> str:
    """A map's items counted by phase: ``items 20: 17 Succeeded, 3 Failed``."""
    found = [f"{n} {phase}" for phase, n in items.counts(state).items() if n]
    return f"items {state.count}" + (f": {', '.join(found)}" if found else "")


def items_table(execution: Mapping[str, Any], task: str) -> Table:
    """One row per item of a map task: phase, attempts, Job, reason and message."""
    status = status_of(execution)
    state = status.tasks[task].map
    assert state is not None
    table = Table(title=f"items of {task} ({items_summary(state)})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    table.add_column("ITEM", no_wrap=True, min_width=4)
    table.add_column("PHASE", no_wrap=True, min_width=11)
    table.add_column("ATTEMPTS", no_wrap=True, min_width=8)
    for column in ("job", "outputs", "reason"):
        table.add_column(column.upper(), overflow="fold")
    name = execution["metadata"]["name"]
    for index in range(state.count):
        item = items.item_state(state, index)
        job = items.job_name(name, task, index, item.attempts) if item.attempts else "-"
        reason = ": ".join(p for p in (item.reason, item.message) if p)
        table.add_row(str(index), phase_text(item.phase), str(item.attempts), job,
                      _outputs_summary(item.outputs, 30), reason)  # fmt: skip
    return table


def task_tree(execution: Mapping[str, Any], now: datetime.datetime, wide: bool = False) -> Tree:
    """The tasks in DAG order: each under its first dependency; a task with several
    dependencies is shown once, under the first, and marked as a join."""
    name = execution["metadata"]["name"]
    status = status_of(execution)
    root = Tree(Text(f"execution {name}", style="bold"))
    graph = graph_of(status)
    if graph is None:
        root.add(Text("not started: no workflow snapshot yet", style="dim"))
        return root
    specs = {t.name: t for t in status.workflow.every_task()} if status.workflow else {}
    final = {t.name for t in status.workflow.finally_} if status.workflow else set()
    nodes: dict[str, Tree] = {}
    apart = None  # the finally tasks, drawn apart under their own heading
    for task in graph.order:
        parents = graph.parents[task]
        if parents:
            parent = nodes[parents[0]]
        elif task in final:
            apart = apart or root.add(Text("finally", style="bold"))
            parent = apart
        else:
            parent = root
        state = status.tasks.get(task) or TaskStatus()
        join = parents if len(parents) > 1 else ()
        nodes[task] = parent.add(task_label(task, state, now, wide, join, specs.get(task)))
    return root


def header(execution: Mapping[str, Any], now: datetime.datetime) -> Table:
    """Phase, progress, times, params, conditions, the last recovery."""
    meta, status = execution["metadata"], status_of(execution)
    spec = execution.get("spec") or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Name", f"{meta.get('namespace')}/{meta['name']}")
    workflow = (spec.get("workflowRef") or {}).get("name") or "(inline)"
    grid.add_row("Workflow", workflow)
    grid.add_row("Phase", phase_text(status.phase))
    grid.add_row("Progress", status.progress or "-")
    grid.add_row("Started", stamp(status.started_at))
    grid.add_row("Finished", stamp(status.finished_at))
    grid.add_row("Duration", duration(span(status.started_at, status.finished_at, now)))
    params = status.params if status.params is not None else spec.get("params") or {}
    grid.add_row("Params", ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-")
    created = next((h for h in status.history if h.event == "Created"), None)
    if created is not None and created.by:
        grid.add_row("Defined by", created.by)
    for condition in (execution.get("status") or {}).get("conditions") or []:
        parts = (condition.get(k, "") for k in ("status", "reason", "message"))
        grid.add_row(f"Condition {condition.get('type')}", " ".join(p for p in parts if p))
    last = next((h for h in reversed(status.history) if h.event in AUDIT_EVENTS), None)
    if last is not None:
        grid.add_row("Last recovery", _recovery_line(last))
    return grid


def _recovery_line(entry: HistoryEntry) -> str:
    parts = [stamp(entry.time), entry.event]
    if entry.task:
        parts.append(f"task {entry.task}")
    if entry.by:
        parts.append(f"by {entry.by}")
    if entry.request:
        parts.append(f"request {entry.request}")
    return "  ".join(parts)


def execution_view(execution: Mapping[str, Any], now: datetime.datetime, wide: bool) -> Group:
    return Group(header(execution, now), Text(""), task_tree(execution, now, wide))


def history_table(execution: Mapping[str, Any]) -> Table:
    """The progress path; recoveries highlighted."""
    history = status_of(execution).history
    day = history[0].time.astimezone(datetime.UTC).strftime("%Y-%m-%d") if history else "-"
    table = Table(
        title=f"progress path of {execution['metadata']['name']} (UTC, from {day})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("time", "task", "event", "attempt", "who", "request"):
        table.add_column(column.upper(), no_wrap=True)
    table.add_column("MESSAGE", overflow="fold", ratio=1)
    for entry in history:
        style = "bold yellow" if entry.event in AUDIT_EVENTS else None
        table.add_row(
            entry.time.astimezone(datetime.UTC).strftime("%H:%M:%S"),
            items.label(entry.task, entry.item) if entry.task else "-",
            entry.event,
            str(entry.attempt) if entry.attempt is not None else "-",
            entry.by or "-",
            entry.request or "-",
            entry.message or "",
            style=style,
        )
    return table


def executions_table(
    executions: Iterable[Mapping[str, Any]], now: datetime.datetime, all_namespaces: bool
) -> Table:
    table = Table(box=None, pad_edge=False)
    columns = ["NAME", "WORKFLOW", "PHASE", "PROGRESS", "STARTED", "DURATION", "AGE"]
    if all_namespaces:
        columns.insert(0, "NAMESPACE")
    for column in columns:
        table.add_column(column)
    for execution in executions:
        meta, status = execution["metadata"], status_of(execution)
        workflow = ((execution.get("spec") or {}).get("workflowRef") or {}).get("name")
        row: list[str | Text] = [
            meta["name"],
            workflow or "(inline)",
            phase_text(status.phase),
            status.progress or "-",
            stamp(status.started_at),
            duration(span(status.started_at, status.finished_at, now)),
            age(meta.get("creationTimestamp"), now),
        ]
        if all_namespaces:
            row.insert(0, meta.get("namespace", ""))
        table.add_row(*row)
    return table


def schedules_table(
    found: Iterable[Mapping[str, Any]],
    executions: Iterable[Mapping[str, Any]],
    now: datetime.datetime,
) -> Table:
    """One row per Schedule: its cron and zone, the next and last runs, the active ones,
    and its latest runs with their phases."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("NAME", "SCHEDULE", "NEXT", "LAST", "ACTIVE", "RECENT RUNS"):
        table.add_column(column, overflow="fold")
    runs_by: dict[str, list[Mapping[str, Any]]] = {}
    for execution in executions:
        label = ((execution.get("metadata") or {}).get("labels") or {}).get(LABEL_SCHEDULE)
        if label:
            runs_by.setdefault(label, []).append(execution)
    for obj in sorted(found, key=lambda o: o["metadata"]["name"]):
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        name = obj["metadata"]["name"]
        recent = sorted(runs_by.get(name, []), key=lambda e: e["metadata"]["name"])[-3:]
        shown = ", ".join(
            f"{e['metadata']['name']} {(e.get('status') or {}).get('phase') or 'Pending'}"
            for e in recent
        )
        cron = f"{spec.get('schedule', '')} {spec.get('timeZone', 'UTC')}"
        if spec.get("suspend"):
            cron += " (suspended)"
        table.add_row(name, cron, status.get("nextScheduleTime") or "-",
                      status.get("lastScheduleTime") or "-", str(len(status.get("active") or [])),
                      shown or "-")  # fmt: skip
    return table
