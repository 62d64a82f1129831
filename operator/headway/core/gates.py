"""The conditions' part of a scheduling pass: whether a Pending task starts now, waits,
or is Skipped (its ``trigger`` from its dependencies' phases, then its ``when``), and
the finally tasks, which start once every other task has ended. A mixin of the planner
(``plan._Planner``); the rules themselves are ``core.conditions``.

The Execution's phase (``phase_of``): while a task runs or can start, Running; once the
tasks have ended, the finally tasks run (with ``HEADWAY_EXECUTION_PHASE``, the phase the
tasks alone give); then the worse of the tasks' phase and the finally tasks' phase, in
the order Failed, Blocked, Stopped, Paused, Succeeded. Skipped counts as done; under
a stop the tasks' phase is Stopped, and under a suspension a run with work left is
Suspended (``plan``'s roll-up)."""

from __future__ import annotations

import datetime
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from typing import Any

from headway.core import conditions
from headway.core.context import Context
from headway.core.dag import Dag
from headway.core.history import clip
from headway.core.transitions import Transitions
from headway.core.vocabulary import TASK_ACTIVE
from headway.models.execution import ExecutionPhase, ExecutionStatus
from headway.models.workflow import Task

REACTING = frozenset({"AllDone", "AnyFailed"})  # triggers that start even under FailFast
WORSE: tuple[ExecutionPhase, ...] = ("Failed", "Blocked", "Stopped", "Paused", "Succeeded")


def phase_of(counts: Counter[str], total: int) -> ExecutionPhase:
    """The phase of a set of tasks from how many are in each phase: Running while any
    runs or waits to retry; then Succeeded if all succeeded or were skipped, else Failed
    if any failed, else Blocked if any is blocked, else Paused."""
    if any(counts[p] > 0 for p in TASK_ACTIVE):
        return "Running"
    if counts["Succeeded"] + counts["Skipped"] >= total:
        return "Succeeded"
    if counts["Failed"] > 0:
        return "Failed"
    if counts["Blocked"] > 0:
        return "Blocked"
    if counts["Stopped"] > 0:
        return "Stopped"
    return "Paused"


def execution_phase(main: ExecutionPhase, final: ExecutionPhase) -> ExecutionPhase:
    """The tasks' phase and the finally tasks' together (``main`` Running: finally tasks
    have not started; ``final`` Running: they run)."""
    if "Running" in (main, final):
        return "Running"
    if main not in WORSE or final not in WORSE:  # Suspended is the roll-up's to say
        return main if main not in WORSE else final
    return min(main, final, key=WORSE.index)


class GatePlanning(Transitions):
    """What the planner does with triggers, conditions and finally tasks."""

    context: Context
    status: ExecutionStatus
    tasks: Mapping[str, Task]
    dag: Dag
    now: datetime.datetime
    final: frozenset[str]
    main_phase: ExecutionPhase | None

    @abstractmethod
    def outputs_of(self, names: list[str], gathered: bool = False) -> dict[str, Any]: ...
    @abstractmethod
    def tally(self) -> Counter[str]: ...
    @abstractmethod
    def suspended(self) -> bool: ...
    @abstractmethod
    def stopped_run(self) -> bool: ...

    def verdict(self, name: str) -> conditions.Gate:
        """What the task's trigger says now (a finally task also waits for the tasks)."""
        if name in self.final and self.tasks_phase() == "Running":
            return conditions.Gate("wait")
        tasks = self.status.tasks
        return conditions.gate(
            self.tasks[name].trigger, {p: tasks[p].phase for p in self.dag.parents[name]}
        )

    def may_start(self, name: str) -> bool:
        """Whether a Pending, unheld task starts now. Decides the rest on the way: a
        trigger that can no longer hold or a false ``when`` skips the task; a ``when``
        that cannot be evaluated fails it (``WhenError``)."""
        task = self.tasks[name]
        if self.suspended() or (self.stopped_run() and name not in self.final):
            return False
        if self.halted() and task.trigger not in REACTING and name not in self.final:
            return False
        found = self.verdict(name)
        if found.verdict == "skip":
            self.skip(name, "TriggerNotMet", found.message)
            return False
        if found.verdict == "wait":
            return False
        if task.when is None:
            return True
        try:
            if conditions.evaluate(task.when, self.context.params, self.seen_by(name)):
                return True
        except conditions.ConditionError as error:
            self.fail((name, None), "WhenError", f"when {task.when!r}: {error}", retry=False)
            return False
        self.skip(name, "WhenFalse", f"when {task.when!r} is false")
        return False

    def seen_by(self, name: str) -> dict[str, Any]:
        """``tasks`` for the task's ``when``: each visible task's outputs and phase."""
        visible = sorted(self.dag.ancestors(name))
        if name in self.final:
            visible = sorted(set(visible) | (self.status.tasks.keys() - self.final))
        outputs = self.outputs_of(visible)
        return {
            t: {
                "outputs": outputs[t] if self.status.tasks[t].phase == "Succeeded" else {},
                "phase": self.status.tasks[t].phase,
            }
            for t in visible
        }

    def skip(self, name: str, reason: str, message: str) -> None:
        state = self.state((name, None))
        state.phase, state.reason, state.message = "Skipped", reason, clip(message)
        state.finished_at = self.now
        self.record("Skipped", (name, None), state.attempts, state.message)
        self.emit("Normal", "TaskSkipped", f"task {name} skipped: {state.message}")

    def tasks_phase(self) -> ExecutionPhase:
        """The phase the tasks alone (not the finally ones) give now."""
        if self.main_phase is None:
            counts = self.tally()
            for name in self.final:
                counts[self.status.tasks[name].phase] -= 1
            self.main_phase = phase_of(counts, len(self.status.tasks) - len(self.final))
            if self.stopped_run() and self.main_phase != "Running":
                self.main_phase = "Stopped"
        return self.main_phase

    def final_phase(self) -> ExecutionPhase:
        counts: Counter[str] = Counter(self.status.tasks[name].phase for name in self.final)
        return phase_of(counts, len(self.final)) if self.final else "Succeeded"

    def execution_env(self, name: str) -> str | None:
        """``HEADWAY_EXECUTION_PHASE`` for a finally task (None for the others)."""
        return self.tasks_phase() if name in self.final else None
