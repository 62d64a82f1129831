"""The scheduling plan: ``plan(context, status, observed_jobs, now) -> Plan``.

Given what the status says and what the cluster shows, decide every task's
next state and the actions that get there. Pure: the same inputs always give
the same plan, so a re-run after a crash repeats decisions rather than making
new ones; deterministic Job names make creating a Job idempotent.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from headway.core import dag as dags
from headway.core import outputs as outputs_
from headway.core import templates
from headway.core.naming import idempotency_key
from headway.core.render import Owner, render_job
from headway.core.spec import effective_tasks
from headway.models.execution import (
    AutoRecovery,
    ExecutionPhase,
    ExecutionStatus,
    HistoryEntry,
    TaskPhase,
    TaskStatus,
)
from headway.models.workflow import RetryPolicy, WorkflowSpec

JSON = dict[str, Any]
HISTORY_LIMIT = 200
ACTIVE = ("Running", "Retrying")


@dataclass(frozen=True)
class ObservedJob:
    """What the cluster shows of one Job (and its pod), reduced to the facts plans use."""

    name: str
    task: str
    attempt: int
    outcome: Literal["Running", "Succeeded", "Failed"]
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    termination_message: str | None = None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    # A stall: the engine, not the task, lost this attempt (pod evicted, node lost...).
    stalled: str | None = None
    pending_since: datetime.datetime | None = None
    pending_reason: str | None = None


@dataclass(frozen=True)
class CreateJob:
    manifest: JSON
    task: str
    attempt: int


@dataclass(frozen=True)
class DeleteJob:
    name: str


@dataclass(frozen=True)
class Emit:
    """A Kubernetes Event on the Execution."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = CreateJob | DeleteJob | Emit


@dataclass(frozen=True)
class Context:
    """The fixed facts of one Execution run."""

    owner: Owner
    workflow: WorkflowSpec
    params: Mapping[str, str]
    auto_recovery: AutoRecovery = field(default_factory=AutoRecovery)


@dataclass
class Plan:
    status: ExecutionStatus
    actions: list[Action]
    wake_at: datetime.datetime | None = None  # reconcile again then, even if nothing changes


def backoff_seconds(retry: RetryPolicy, retry_number: int) -> float:
    """Delay before retry ``retry_number`` (1-based): exponential, capped."""
    delay = retry.backoff_seconds * retry.backoff_factor ** (retry_number - 1)
    return float(min(delay, retry.max_backoff_seconds))


class _Planner:
    def __init__(
        self,
        context: Context,
        status: ExecutionStatus,
        observed: Mapping[str, ObservedJob],
        now: datetime.datetime,
    ) -> None:
        self.context = context
        self.status = status.model_copy(deep=True)
        self.observed = observed
        self.now = now
        self.tasks = effective_tasks(context.workflow)
        self.dag = dags.build([(t.name, t.dependencies) for t in self.tasks.values()])
        self.actions: list[Action] = []
        self.wake: list[datetime.datetime] = []
        for name in self.tasks:
            self.status.tasks.setdefault(name, TaskStatus())

    # --- bookkeeping --------------------------------------------------------------------

    def record(
        self,
        event: str,
        task: str | None = None,
        attempt: int | None = None,
        message: str | None = None,
    ) -> None:
        self.status.history.append(
            HistoryEntry(time=self.now, event=event, task=task, attempt=attempt, message=message)
        )
        del self.status.history[:-HISTORY_LIMIT]

    def emit(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.actions.append(Emit(kind, reason, message))

    def inputs(self, name: str) -> dict[str, Any]:
        return {p: self.status.tasks[p].outputs or {} for p in self.dag.parents[name]}

    # --- transitions --------------------------------------------------------------------

    def launch(self, name: str) -> None:
        state, task = self.status.tasks[name], self.tasks[name]
        attempt = state.attempts + 1
        inputs = self.inputs(name)
        key = idempotency_key(self.context.owner.uid, name, self.context.params, inputs)
        try:
            manifest = render_job(
                self.context.owner, task, attempt, self.context.params, inputs, key
            )
        except templates.TemplateError as error:
            # Deterministic: another attempt would fail the same way.
            self.fail(name, "InvalidInput", str(error), retry=False)
            return
        job = manifest["metadata"]["name"]
        if job not in self.observed:  # else: created before a crash; adopt it
            self.actions.append(CreateJob(manifest, name, attempt))
        state.phase, state.attempts, state.job, state.idempotency_key = "Running", attempt, job, key
        state.started_at = state.started_at or self.now
        state.finished_at = state.exit_code = state.reason = state.message = None
        state.next_attempt_at = None
        self.record("Started", name, attempt)
        self.emit("Normal", "TaskStarted", f"task {name} attempt {attempt} started as Job {job}")

    def succeed(self, name: str, job: ObservedJob, outputs: JSON) -> None:
        state = self.status.tasks[name]
        state.phase, state.outputs, state.outputs_source = "Succeeded", outputs, "Job"
        state.exit_code, state.reason, state.message = job.exit_code, None, None
        state.finished_at = job.finished_at or self.now
        self.record("Succeeded", name, state.attempts)
        self.emit("Normal", "TaskSucceeded", f"task {name} succeeded (attempt {state.attempts})")

    def fail(
        self,
        name: str,
        reason: str,
        message: str,
        exit_code: int | None = None,
        finished: datetime.datetime | None = None,
        retry: bool = True,
    ) -> None:
        state, policy = self.status.tasks[name], self.tasks[name].retry or RetryPolicy()
        state.exit_code, state.reason, state.message = exit_code, reason, message
        state.finished_at = finished or self.now
        attempts = state.attempts - state.attempts_at_recovery  # since the last recovery
        if retry and attempts <= policy.limit:
            delay = backoff_seconds(policy, attempts)
            state.phase = "Retrying"
            state.next_attempt_at = state.finished_at + datetime.timedelta(seconds=delay)
            self.record(
                "Retrying", name, state.attempts, f"{reason}: {message}; retry in {delay:g}s"
            )
            self.emit(
                "Warning",
                "TaskRetrying",
                f"task {name} attempt {state.attempts} failed ({reason}); retry in {delay:g}s",
            )
        else:
            state.phase = "Failed"
            self.record("Failed", name, state.attempts, f"{reason}: {message}")
            self.emit("Warning", "TaskFailed", f"task {name} failed: {reason}: {message}")

    def stall(self, name: str, why: str) -> None:
        """The engine lost the attempt: try again, up to ``maxAttempts`` times, then Blocked."""
        state = self.status.tasks[name]
        if state.job and state.job in self.observed:
            self.actions.append(DeleteJob(state.job))
        if state.auto_recoveries < self.context.auto_recovery.max_attempts:
            state.auto_recoveries += 1
            self.record("AutoRecovered", name, state.attempts, why)
            self.emit(
                "Warning",
                "TaskStalled",
                f"task {name} attempt {state.attempts} stalled ({why}); starting a new attempt",
            )
            self.launch(name)
        else:
            state.phase, state.reason, state.finished_at = "Blocked", "Stalled", self.now
            state.message = f"{why}; gave up after {state.auto_recoveries} automatic recoveries"
            self.record("Blocked", name, state.attempts, state.message)
            self.emit("Warning", "TaskBlocked", f"task {name} blocked: {state.message}")

    # --- the pass -----------------------------------------------------------------------

    def observe(self, name: str) -> None:
        """Move a Running task on from what its Job shows."""
        state = self.status.tasks[name]
        job = self.observed.get(state.job or "")
        if job is None:
            self.stall(name, f"Job {state.job} disappeared")
            return
        if job.stalled:
            self.stall(name, job.stalled)
            return
        if job.outcome == "Running":
            timeout = self.context.auto_recovery.stall_timeout_seconds
            if job.pending_since is not None:
                limit = job.pending_since + datetime.timedelta(seconds=timeout)
                if self.now >= limit:
                    self.stall(
                        name,
                        f"pod Pending for over {timeout}s ({job.pending_reason or 'not started'})",
                    )
                else:
                    self.wake.append(limit)
            return
        if job.outcome == "Succeeded":
            parsed = outputs_.parse(job.termination_message)
            if isinstance(parsed, outputs_.OutputsError):
                self.fail(name, parsed.reason, parsed.message, job.exit_code, job.finished_at)
            else:
                self.succeed(name, job, parsed)
            return
        self.fail(
            name,
            job.reason or "Failed",
            job.message or "the Job failed",
            job.exit_code,
            job.finished_at,
        )

    def halted(self) -> bool:
        failed = any(s.phase in ("Failed", "Blocked") for s in self.status.tasks.values())
        return self.context.workflow.failure_policy == "FailFast" and failed

    def run(self) -> Plan:
        for name in self.dag.order:
            state = self.status.tasks[name]
            if state.phase == "Running":
                self.observe(name)
            if state.phase == "Retrying" and state.next_attempt_at is not None:
                if state.next_attempt_at <= self.now:
                    self.launch(name)
                else:
                    self.wake.append(state.next_attempt_at)
            elif state.phase == "Pending" and not state.held and not self.halted():
                ready = all(
                    self.status.tasks[p].phase == "Succeeded" for p in self.dag.parents[name]
                )
                if ready:
                    self.launch(name)
        self.roll_up()
        return Plan(self.status, self.actions, min(self.wake) if self.wake else None)

    def roll_up(self) -> None:
        status, phases = self.status, [s.phase for s in self.status.tasks.values()]
        succeeded = phases.count("Succeeded")
        status.progress = f"{succeeded}/{len(phases)}"
        status.started_at = status.started_at or self.now
        phase = execution_phase(phases)
        if status.recovery.phase_frozen and status.phase is not None:
            return  # a Step recovery that leaves the phase as it was
        if phase != status.phase:
            status.phase = phase
            if phase != "Running":
                self.record(phase)
                self.emit(
                    "Normal" if phase == "Succeeded" else "Warning",
                    f"Execution{phase}",
                    f"execution {phase.lower()}: {status.progress} tasks succeeded",
                )
        status.finished_at = None if phase == "Running" else (status.finished_at or self.now)


def execution_phase(phases: list[TaskPhase]) -> ExecutionPhase:
    """Running while anything runs or waits to retry; then Succeeded if all succeeded,
    else Failed if any failed, else Blocked if any is blocked, else Paused."""
    if any(p in ACTIVE for p in phases):
        return "Running"
    if all(p == "Succeeded" for p in phases):
        return "Succeeded"
    if "Failed" in phases:
        return "Failed"
    if "Blocked" in phases:
        return "Blocked"
    return "Paused"


def plan(
    context: Context,
    status: ExecutionStatus,
    observed: Mapping[str, ObservedJob],
    now: datetime.datetime,
) -> Plan:
    """Decide the next status and actions of a started Execution."""
    return _Planner(context, status, observed, now).run()
