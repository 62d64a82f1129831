"""Recovery planning: ``recover(workflow, status, order, now) -> Recovered | Rejected``.

A recovery never reruns a task that succeeded and is not downstream of a
target: kept tasks keep their outputs, attempts and Jobs. Rerun tasks keep
counting attempts (so their new Jobs get new names) but get a fresh retry and
stall budget.

- Flow: the targets (named, else every Failed/Blocked task and every task an
  earlier Step holds) and everything downstream go back to Pending, holds and
  the phase freeze are lifted, and the flow runs on.
- Step: only the named task (its dependencies must have succeeded) goes back
  to Pending; its successors are held so that nothing downstream starts.
  Unless ``updateExecutionPhase``, the task is *frozen*: the Execution's phase
  is computed as if it still had the phase it had before the Step (other
  tasks keep counting). With it, a freeze of that task is lifted.
- ProvideOutputs: a Failed or Blocked task takes the given outputs and becomes
  Succeeded; holds downstream and every freeze are lifted; the flow continues.

A map task is recovered by item: as a target it reruns only the items named
(``items``), else its Failed and Blocked ones, and is expanded again when it
starts, keeping every item that Succeeded with an unchanged idempotency key
(a map downstream of a target is expanded again the same way). ProvideOutputs
on a map gives the named Failed or Blocked items their outputs.

A request that cannot apply is Rejected with a reason and changes nothing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

from headway.core import dag as dags
from headway.core import history
from headway.core import items as items_
from headway.core.actions import Emit
from headway.core.outputs import provided_problem
from headway.core.plan import outputs_bytes
from headway.core.vocabulary import TASK_ACTIVE, TASK_STUCK
from headway.models.execution import (
    AppliedRequest,
    ExecutionStatus,
    HistoryEntry,
    MapStatus,
    TaskPhase,
    TaskStatus,
)
from headway.models.recovery import RecoveryMode

JSON = dict[str, Any]
APPLIED_MEMORY = 100  # how many finished applied requests the status remembers
UNVERIFIED = (
    "the requester was not recorded by Headway's admission webhook (is Headway installed "
    "with its webhooks?): a recovery is never applied without knowing who asked for it"
)


@dataclass(frozen=True)
class Order:
    """One recovery to apply: from a RecoveryRequest or the recover annotation."""

    mode: RecoveryMode
    task: str | None = None
    outputs: JSON | None = None
    update_execution_phase: bool = False
    items: tuple[int, ...] | None = None  # of the map task ``task``
    by: str | None = None
    request: str | None = None  # the RecoveryRequest's name
    request_uid: str | None = None
    token: str | None = None  # the annotation value


@dataclass(frozen=True)
class Rejected:
    message: str


@dataclass(frozen=True)
class Recovered:
    status: ExecutionStatus
    tasks: list[str]  # the tasks the recovery reset or resolved
    event: Emit


def _reset(state: TaskStatus, rerun: list[int] | None = None) -> TaskStatus:
    """Pending again, with fresh retry and stall budgets; the attempt count and the last
    Job's name stay for the record (new attempts get new Job names). Everything else —
    outputs, failure reason, times, holds — is gone. A map keeps its items (its next
    expansion keeps those that Succeeded with the same key); ``rerun`` go back to Pending."""
    items = state.map
    if items is not None and rerun:
        items = items_.private(items)
        for index in rerun:
            was = items_.item_state(items, index)
            items_.put_item(items, index, TaskStatus(phase="Pending", attempts=was.attempts))
    return TaskStatus(
        phase="Pending",
        attempts=state.attempts,
        job=state.job,
        idempotency_key=state.idempotency_key,
        map=items,
    )


def _items_problem(status: ExecutionStatus, order: Order) -> str | None:
    """What is wrong with the items a request names (or a map's ProvideOutputs without)."""
    state = status.tasks[order.task] if order.task else None
    items = state.map if state else None
    if order.items is None:
        if order.mode == "ProvideOutputs" and items is not None:
            return (
                f'task "{order.task}" is a map: ProvideOutputs names the items it gives outputs '
                "(items: [...])"
            )
        return None
    if order.task is None:
        return "items need a task: the map task they belong to"
    if items is None:
        return f'task "{order.task}" has no items (it is not a map, or has not expanded yet)'
    outside = [i for i in order.items if i >= items.count]
    if outside:
        return (
            f'task "{order.task}" has {items.count} items (0 to {items.count - 1}): no item '
            f"{', '.join(map(str, outside))}"
        )
    if order.mode == "ProvideOutputs":
        wrong = [i for i in order.items if items.phases[i] not in "FBX"]
        if wrong:
            return (
                f'items {", ".join(map(str, wrong))} of "{order.task}" are not Failed or '
                "Blocked: ProvideOutputs applies only to those"
            )
    return None


def _validate(graph: dags.Dag, status: ExecutionStatus, order: Order) -> str | None:
    if order.task is not None and order.task not in status.tasks:
        known = ", ".join(graph.order)
        return f'task "{order.task}" does not exist in this execution (tasks: {known})'
    if order.mode in ("Step", "ProvideOutputs") and order.task is None:
        return f"{order.mode} needs a task"
    state = status.tasks[order.task] if order.task else None
    problem = _items_problem(status, order)
    if problem:
        return problem
    if order.mode == "ProvideOutputs":
        assert state is not None
        if state.phase not in TASK_STUCK:
            return (
                f'task "{order.task}" is {state.phase}: ProvideOutputs applies only to a Failed, '
                "Blocked or Stopped task"
            )
        if order.outputs is None:
            return "ProvideOutputs needs outputs (a JSON object)"
        problem = provided_problem(order.outputs)
        if problem:
            return problem
        limit = status.outputs_limit
        size = outputs_bytes(order.outputs) * len(order.items or [0])
        others = (
            sum(
                outputs_bytes(s.outputs) + items_.outputs_size(s.map)
                for n, s in status.tasks.items()
                if n != order.task or order.items
            )
            if limit is not None and size  # an empty object adds nothing: no sum to make
            else 0
        )
        if limit is not None and others + size > limit:
            return f"outputs would bring the execution's outputs past {limit} bytes in all"
    return None


def _frozen(status: ExecutionStatus, task: str, update_phase: bool) -> dict[str, TaskPhase] | None:
    """The frozen tasks after a Step on ``task``: without ``updateExecutionPhase`` the task
    counts for the Execution's phase as it was before (first Step wins); with it, as it is."""
    frozen = dict(status.recovery.frozen or {})
    if update_phase:
        frozen.pop(task, None)
    else:
        frozen.setdefault(task, status.tasks[task].phase)
    return frozen or None


def targets_of(status: ExecutionStatus, order: Order) -> list[str]:
    """The named task; else (Flow) every Failed, Blocked or Stopped task and every held
    one."""
    if order.task is not None:
        return [order.task]
    return [
        name
        for name, state in status.tasks.items()
        if state.phase in TASK_STUCK or (state.phase == "Pending" and state.held)
    ]


def _remember(recovery: list[AppliedRequest], record: AppliedRequest) -> list[AppliedRequest]:
    """Add ``record``; forget the oldest finished ones past the memory (never an open one)."""
    records = [*recovery, record]
    finished = [r for r in records if r.completed_at is not None]
    drop = {id(r) for r in finished[: max(0, len(finished) - APPLIED_MEMORY)]}
    return [r for r in records if id(r) not in drop]


@dataclass(frozen=True)
class Scope:
    """What a recovery would touch: the tasks it names (or finds), and every task it
    resets or resolves, in DAG order."""

    targets: list[str]
    ordered: list[str]
    items: dict[str, list[int]]  # map task -> the items it reruns (ProvideOutputs: resolves)
    final: list[str] = field(default_factory=list)  # finally tasks that will run again
    reevaluated: list[str] = field(default_factory=list)  # Skipped, looked at again


def graph_of(status: ExecutionStatus) -> dags.Dag | None:
    """The DAG of a started Execution's snapshot (None before it starts)."""
    if status.workflow is None:
        return None
    return dags.build([(t.name, t.dependencies) for t in status.workflow.every_task()])


STOPPING = (
    "the execution is stopped by spec.stop: set spec.stop to false (kubectl headway resume), "
    "then recover it"
)


def scope(
    status: ExecutionStatus, order: Order, graph: dags.Dag | None = None, stopping: bool = False
) -> Scope | Rejected:
    """What ``order`` would touch, or why it cannot apply: every rule of a recovery but
    the change itself (``recover`` makes it; the previews and offers ask this).
    ``stopping``: the Execution's ``spec.stop``."""
    graph = graph or graph_of(status)
    if graph is None:
        return Rejected("the execution has not started (see its Ready condition)")
    if stopping:
        return Rejected(STOPPING)
    if order.by is None:
        return Rejected(UNVERIFIED)
    problem = _validate(graph, status, order)
    if problem:
        return Rejected(problem)
    targets = targets_of(status, order)
    if not targets:
        return Rejected("no Failed, Blocked, Stopped or held task to recover")
    if order.mode == "Step":
        affected = set(targets)
    elif order.mode == "Flow":
        affected = graph.closure(targets)
    else:
        affected = set(targets)
    if order.mode == "Step":
        waiting = [p for p in graph.parents[targets[0]] if status.tasks[p].phase != "Succeeded"]
        if waiting:
            return Rejected(
                f'task "{targets[0]}" cannot run on its own: its dependencies '
                f"{', '.join(waiting)} have not succeeded (recover them with Flow)"
            )
    final = finally_tasks(status)
    busy = sorted(t for t in affected | set(final) if status.tasks[t].phase in TASK_ACTIVE)
    if busy:
        return Rejected(
            f"task{'s' if len(busy) > 1 else ''} {', '.join(busy)} still running: wait for "
            "it to finish"
        )
    # A target map reruns the items named, else its Failed and Blocked ones; a map
    # downstream reruns its Failed and Blocked ones (and any whose key changes).
    rerun = {
        name: items_.rerun_items(
            state, list(order.items) if order.items and name in targets else None
        )
        for name in (targets if order.mode != "Flow" else [t for t in graph.order if t in affected])
        if (state := status.tasks[name].map) is not None
    }
    ordered = [t for t in graph.order if t in affected]
    again = [t for t in final if t not in affected and status.tasks[t].phase != "Pending"]
    skipped = []
    if order.mode == "ProvideOutputs" and not order.items:
        skipped = [
            t for t in graph.order
            if t in graph.descendants(targets[0]) and status.tasks[t].phase == "Skipped"
        ]  # fmt: skip
    return Scope(targets, ordered, rerun, again, skipped)


def finally_tasks(status: ExecutionStatus) -> list[str]:
    return [t.name for t in status.workflow.finally_] if status.workflow is not None else []


def recover(
    status: ExecutionStatus, order: Order, now: datetime.datetime, stopping: bool = False
) -> Recovered | Rejected:
    """Apply ``order`` to a started Execution's status, or say why it cannot apply. A
    recovery ends a stop (``stoppedAt``): what it reruns may start."""
    graph = graph_of(status)
    found = scope(status, order, graph, stopping)
    if isinstance(found, Rejected):
        return found
    assert graph is not None  # a scope was found: the Execution has started
    targets, ordered = found.targets, found.ordered
    updated = status.model_copy(deep=True)
    recovery = updated.recovery
    updated.stopped_at = None
    if order.token is not None:
        recovery.last_token = order.token
    if order.mode == "ProvideOutputs" and order.items:
        [name] = targets
        state = updated.tasks[name]
        state.map = _provided(state.map, order)
        state.phase = "Running"  # the next pass ends the map, now with these items' outputs
        state.finished_at = state.reason = state.message = None
        for descendant in graph.descendants(name):
            updated.tasks[descendant].held = None
        recovery.frozen = None
        event = "OutputsProvided"
    elif order.mode == "ProvideOutputs":
        [name] = targets
        state = updated.tasks[name]
        state.phase, state.outputs, state.outputs_source = "Succeeded", order.outputs, "Provided"
        state.reason = "OutputsProvided"
        state.message = f"outputs provided by {order.by or 'unknown'}"
        state.finished_at = now
        state.exit_code = state.next_attempt_at = None
        for descendant in graph.descendants(name):
            updated.tasks[descendant].held = None
        recovery.frozen = None
        event = "OutputsProvided"
    else:
        if order.mode == "Step":
            recovery.frozen = _frozen(status, targets[0], order.update_execution_phase)
        else:
            recovery.frozen = None
        for name in ordered:
            updated.tasks[name] = _reset(updated.tasks[name], found.items.get(name))
        if order.mode == "Step":
            for descendant in graph.descendants(targets[0]):
                if updated.tasks[descendant].phase == "Pending":
                    updated.tasks[descendant].held = True
        event = "Retriggered" if order.mode == "Flow" else "StepRetriggered"
    # Finally tasks run again once what this recovery reruns has ended; Skipped tasks
    # below outputs given by hand are looked at again with them.
    for name in [*found.final, *found.reevaluated]:
        updated.tasks[name] = _reset(updated.tasks[name])
    if order.mode != "Step" or order.update_execution_phase:
        updated.finished_at = None  # the roll-up sets it again once nothing runs
    source = f"request {order.request}" if order.request else "the recover annotation"
    for name in targets:
        chosen = found.items.get(name)
        history.append(
            updated.history,
            HistoryEntry(
                time=now,
                event=event,
                task=name,
                items=chosen,
                by=order.by,
                request=order.request,
                message=f"{order.mode} recovery by {order.by or 'unknown'} via {source}; "
                f"reset: {', '.join(ordered)}{_items_text(chosen)}",
            ),
        )
    message = (
        f"{order.mode} recovery of {', '.join(targets)} by {order.by} via {source}"
        f"{'; rerunning ' + ', '.join(ordered) if order.mode != 'ProvideOutputs' else ''}"
        f"{''.join(_items_text(found.items.get(n), n) for n in targets)}"
    )
    if order.request_uid is not None and order.request is not None:
        record = AppliedRequest(
            uid=order.request_uid,
            name=order.request,
            mode=order.mode,
            tasks=ordered,
            items=found.items or None,
            by=order.by,
            applied_at=now,
            message=message,
        )
        recovery.requests = _remember(recovery.requests, record)
    return Recovered(updated, ordered, Emit("Normal", "Recovery", message))


def _provided(state: MapStatus | None, order: Order) -> MapStatus:
    """The map with the named items Succeeded on the given outputs."""
    assert state is not None and order.items is not None
    fresh = items_.private(state)
    for index in order.items:
        was = items_.item_state(fresh, index)
        given = TaskStatus(
            phase="Succeeded", attempts=was.attempts, outputs=order.outputs,
            outputs_source="Provided",
        )  # fmt: skip
        items_.put_item(fresh, index, given)
    return fresh


def _items_text(chosen: list[int] | None, task: str | None = None) -> str:
    """``; items 3, 7`` (of ``task``) for the messages of a recovery by item."""
    if chosen is None:
        return ""
    where = f" of {task}" if task else ""
    shown = ", ".join(map(str, chosen[:50])) + (" ..." if len(chosen) > 50 else "")
    return f"; items{where}: {shown or 'none'}"


def outcome(
    status: ExecutionStatus,
    mode: RecoveryMode,
    tasks: list[str],
    items: dict[str, list[int]] | None = None,
) -> Literal["Succeeded", "Failed"] | None:
    """How an applied recovery ended, or None while its tasks still run.

    Flow: once none of its tasks runs and the Execution has stopped. Step: once
    the step has ended. ProvideOutputs: at once. A task its condition skipped counts as
    done. A map whose items were named
    (``items``) counts as succeeded when those items did, once it has ended."""
    if mode == "ProvideOutputs":
        return "Succeeded"
    states = [status.tasks[t] for t in tasks if t in status.tasks]
    if mode == "Step":
        if any(s.phase == "Pending" or s.phase in TASK_ACTIVE for s in states):
            return None
    elif any(s.phase in TASK_ACTIVE for s in states) or status.phase == "Running":
        return None
    named = items or {}

    def succeeded(name: str) -> bool:
        state = status.tasks[name]
        if state.phase in ("Succeeded", "Skipped"):  # Skipped: its condition said so
            return True
        chosen, found = named.get(name), state.map
        if not chosen or found is None:
            return False
        return all(found.phases[i : i + 1] == "S" for i in chosen)

    return "Succeeded" if all(succeeded(t) for t in tasks if t in status.tasks) else "Failed"


def recover_by_token(
    status: ExecutionStatus,
    token: str | None,
    by: str | None,
    now: datetime.datetime,
    stopping: bool = False,
) -> tuple[ExecutionStatus, list[Emit]]:
    """The ``headway.dev/recover`` annotation: each new value is a Flow recovery of every
    Failed and Blocked task. A value is handled once, whether it applies or not."""
    if not token or token == status.recovery.last_token or status.workflow is None:
        return status, []
    result = recover(status, Order(mode="Flow", by=by, token=token), now, stopping)
    if isinstance(result, Recovered):
        return result.status, [result.event]
    rejected = status.model_copy(deep=True)
    rejected.recovery.last_token = token
    history.append(
        rejected.history,
        HistoryEntry(time=now, event="RecoveryRejected", by=by, message=result.message),
    )
    message = f"recover annotation {token!r}: {result.message}"
    return rejected, [Emit("Warning", "RecoveryRejected", message)]
