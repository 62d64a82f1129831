"""Suspend and stop, in a scheduling pass (``spec.suspend``, ``spec.stop``). A mixin of
the planner (``plan._Planner``).

Suspended: nothing new starts (no task, item, retry or finally task); what runs
finishes; the phase is ``Suspended`` while work remains. Stopped: the first pass that
sees ``spec.stop`` records ``status.stoppedAt``, and every pass while it is set deletes
the Job of every running task and item (not a finally task's) and marks them
``Stopped`` — a stop is neither a failure nor a stall: nothing is retried and nothing is
looked at as lost. Only finally tasks start (``HEADWAY_EXECUTION_PHASE=Stopped``); the
run ends ``Stopped``. ``stoppedAt`` stays until a recovery clears it, so setting
``spec.stop`` back to false starts nothing by itself: the run is recovered like a failed
one. An operator restarted mid-stop finds ``spec.stop`` and finishes the stop."""

from __future__ import annotations

import datetime
import re
from abc import abstractmethod
from collections.abc import Mapping

from headway.core.actions import DeleteJob, JobAction
from headway.core.context import Context
from headway.core.facts import ObservedJob
from headway.core.transitions import Transitions, Unit
from headway.core.vocabulary import TASK_ACTIVE
from headway.models.execution import ExecutionStatus, TaskStatus

ACTIVE_ITEMS = re.compile("[RT]")
ENDED_RUN = frozenset({"Succeeded", "Failed", "Blocked", "Paused"})  # nothing runs


class HoldPlanning(Transitions):
    context: Context
    status: ExecutionStatus
    now: datetime.datetime
    jobs: list[JobAction]
    final: frozenset[str]
    observed: Mapping[str, ObservedJob]

    @abstractmethod
    def peek(self, unit: Unit) -> TaskStatus: ...
    @abstractmethod
    def flush(self, name: str) -> None: ...
    @abstractmethod
    def ended(self, unit: Unit, was: str) -> None: ...
    @abstractmethod
    def observe(self, unit: Unit) -> None: ...

    def stopped_run(self) -> bool:
        """Stopping, or stopped and not recovered since: only finally tasks start (set
        by ``stop_all`` at the start of a pass)."""
        return self.status.stopped_at is not None

    def suspended(self) -> bool:
        return self.context.hold == "suspend" and not self.stopped_run()

    def holding(self) -> bool:
        """Nothing new may start (finally tasks aside, under a stop)."""
        return self.suspended() or self.stopped_run()

    def stop_all(self) -> None:
        """Under ``spec.stop``: every running task and item stopped, its Job deleted."""
        if self.context.hold != "stop":
            return
        if self.status.stopped_at is None and self.status.phase in ENDED_RUN:
            return  # a run that has ended has nothing to stop: it keeps its phase
        if self.status.stopped_at is None:
            self.status.stopped_at = self.now
            self.record("Stopping", None, None, "spec.stop: every running Job is deleted")
            self.emit("Warning", "ExecutionStopping", "spec.stop: deleting every running Job")
        tasks: Mapping[str, TaskStatus] = self.status.tasks
        for name in [n for n, s in tasks.items() if s.phase in TASK_ACTIVE and n not in self.final]:
            state = tasks[name]
            if state.map is not None:
                for match in ACTIVE_ITEMS.finditer(state.map.phases):
                    self.stop_unit((name, match.start()))
                self.flush(name)
            self.stop_unit((name, None))

    def stop_unit(self, unit: Unit) -> None:
        """Stop one task or item; an end its Job already shows is recorded instead (a
        completion is never lost to a stop)."""
        job = self.peek(unit).job
        fact = self.observed.get(job or "")
        if self.peek(unit).phase == "Running" and fact is not None and fact.outcome != "Running":
            self.observe(unit)
            if self.peek(unit).phase not in TASK_ACTIVE:
                return
        state = self.state(unit)
        if state.phase == "Running" and job:
            self.jobs.append(DeleteJob(job, "Foreground"))
        self.ended(unit, state.phase)
        state.phase, state.reason, state.message = "Stopped", "Stopped", "stopped by spec.stop"
        state.finished_at, state.next_attempt_at = self.now, None
        if unit[1] is None:
            self.record("Stopped", unit, state.attempts, "spec.stop")
            self.emit("Normal", "TaskStopped", f"task {unit[0]} stopped (spec.stop)")
