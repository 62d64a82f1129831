"""What a recovery would do, before anyone asks for it, and which recoveries a run or a
task offers: both answered by the engine's own rules (``recovery.scope``), so the CLI's
preview, the console's buttons and its confirmation say exactly what the engine then
does. Pure: the CLI and the console's server call these; the page shows their answer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from headway.core import dag as dags
from headway.core.recovery import Order, Rejected, graph_of, scope
from headway.core.vocabulary import (
    EXECUTION_FINISHED,
    FLOW_WARNING,
    OUTPUTS_WARNING,
    RECOVER_WARNING,
    RESUME_WARNING,
    STEP_WARNING,
    STOP_WARNING,
    SUSPEND_WARNING,
)
from headway.models.execution import ExecutionStatus

# A stand-in for the requester, who the operator checks itself when the request comes.
ASKER = "you"


@dataclass(frozen=True)
class Preview:
    """A recovery as the engine would apply it now."""

    mode: str
    task: str | None
    reruns: list[str]  # reset (ProvideOutputs: resolved), in DAG order
    kept: list[str]  # every other task: left as it is, outputs, attempts and Jobs
    warning: str  # the seeds' confirmation text
    problem: str | None = None  # why the engine would reject it now (nothing reruns)
    # Map task -> the items it reruns (ProvideOutputs: resolves); the rest are kept.
    items: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    # Of those reset, the ones with a ``when`` or a trigger: they may run or be Skipped,
    # depending on how what reruns ends (or on the outputs given).
    conditional: list[str] = dataclasses.field(default_factory=list)
    final: list[str] = dataclasses.field(default_factory=list)  # finally tasks, again


def warning_of(order: Order) -> str:
    if order.mode == "Flow":
        return FLOW_WARNING if order.task else RECOVER_WARNING
    return STEP_WARNING if order.mode == "Step" else OUTPUTS_WARNING


def preview(
    status: ExecutionStatus, order: Order, graph: dags.Dag | None = None, stopping: bool = False
) -> Preview:
    """The recovery ``order`` applied to ``status`` as the operator would apply it
    (``stopping``: the Execution's ``spec.stop``)."""
    graph = graph or graph_of(status)
    found = scope(status, dataclasses.replace(order, by=order.by or ASKER), graph, stopping)
    order_of = list(graph.order) if graph else list(status.tasks)
    if isinstance(found, Rejected):
        return Preview(order.mode, order.task, [], order_of, warning_of(order), found.message)
    reset = [*found.ordered, *found.reevaluated, *found.final]
    touched = set(reset)
    kept = [t for t in order_of if t not in touched]
    conditional = [t for t in reset if t in _conditional(status)]
    return Preview(order.mode, order.task, reset, kept, warning_of(order), None,
                   found.items, conditional, found.final)  # fmt: skip


def _conditional(status: ExecutionStatus) -> set[str]:
    """The tasks that may be Skipped: with a ``when``, or a trigger but the default."""
    if status.workflow is None:
        return set()
    return {
        t.name
        for t in status.workflow.every_task()
        if t.when is not None or t.trigger != "AllSucceeded"
    }


@dataclass(frozen=True)
class Offer:
    """One action the page or the CLI may offer: a button, its confirmation, and what it
    would rerun."""

    action: str  # recover-workflow | retry-flow | retry-step | provide-outputs
    title: str
    mode: str
    task: str | None
    warning: str
    reruns: list[str]
    items: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    conditional: list[str] = dataclasses.field(default_factory=list)
    final: list[str] = dataclasses.field(default_factory=list)


ACTIONS = (
    ("retry-flow", "Retry from this task", "Flow"),
    ("retry-step", "Re-trigger this step only", "Step"),
    ("provide-outputs", "Provide outputs", "ProvideOutputs"),
)


def offers(status: ExecutionStatus, stopping: bool = False) -> dict[str, list[Offer]]:
    """Every recovery the engine would accept now: under ``""`` the run's own (Recover
    workflow: every Failed, Blocked and held task), under each task's name its own."""
    graph = graph_of(status)
    if graph is None:
        return {}
    found: dict[str, list[Offer]] = {}
    whole = preview(status, Order("Flow"), graph, stopping)
    if whole.problem is None:
        found[""] = [Offer("recover-workflow", "Recover workflow", "Flow", None, whole.warning,
                           whole.reruns, whole.items, whole.conditional, whole.final)]  # fmt: skip
    for task in graph.order:
        for action, title, mode in ACTIONS:
            # Outputs are checked when given: any object stands in for them here.
            order = Order(mode, task=task, outputs={} if mode == "ProvideOutputs" else None)  # type: ignore[arg-type]
            shown = preview(status, order, graph, stopping)
            if shown.problem is None:
                found.setdefault(task, []).append(
                    Offer(
                        action,
                        title,
                        mode,
                        task,
                        shown.warning,
                        shown.reruns,
                        shown.items,
                        shown.conditional,
                        shown.final,
                    )
                )
    return found


@dataclass(frozen=True)
class Hold:
    """Stop, suspend or resume, as the page and the CLI offer it: the spec it sets."""

    action: str  # stop | suspend | resume
    title: str
    warning: str
    spec: dict[str, bool]


HOLDS = {
    "stop": Hold("stop", "Stop", STOP_WARNING, {"stop": True}),
    "suspend": Hold("suspend", "Suspend", SUSPEND_WARNING, {"suspend": True}),
    "resume": Hold("resume", "Resume", RESUME_WARNING, {"suspend": False, "stop": False}),
}


def holds(phase: str | None, suspend: bool, stop: bool) -> list[Hold]:
    """What may be asked of a run now: stop one that has not ended, suspend one that
    runs, resume one suspended or stopped."""
    found = []
    ended = phase in EXECUTION_FINISHED
    if not stop and not ended:
        found.append(HOLDS["stop"])
    if not stop and not suspend and not ended:
        found.append(HOLDS["suspend"])
    if suspend or stop:
        found.append(HOLDS["resume"])
    return found
