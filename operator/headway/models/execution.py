"""The Execution resource: one run of a Workflow, and everything learnt while running it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from headway.models.base import Condition, Spec, Status, Time
from headway.models.recovery import RecoveryMode
from headway.models.workflow import WorkflowSpec

ExecutionPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Blocked", "Paused"]
TaskPhase = Literal["Pending", "Running", "Retrying", "Succeeded", "Failed", "Blocked"]
OutputsSource = Literal["Job", "Provided"]


class WorkflowRef(Spec):
    name: str = Field(min_length=1)


class AutoRecovery(Spec):
    """Automatic recovery of stalls: failures of the engine, not of the task."""

    max_attempts: int = Field(5, ge=0, description="New attempts per task after stalls.")
    stall_timeout_seconds: int = Field(300, ge=1, description="How long a pod may sit Pending.")


class ExecutionSpec(Spec):
    """Run a Workflow, named (``workflowRef``) or inline (``workflow``), with parameters."""

    workflow_ref: WorkflowRef | None = None
    workflow: WorkflowSpec | None = None
    params: dict[str, str] = Field(default_factory=dict)
    auto_recovery: AutoRecovery = Field(default_factory=AutoRecovery)

    @model_validator(mode="after")
    def _one_workflow(self) -> ExecutionSpec:
        if (self.workflow_ref is None) == (self.workflow is None):
            raise ValueError("set exactly one of workflowRef and workflow")
        return self


class TaskStatus(Status):
    # (the outputs object, its size in bytes): measured once per outputs object, so the
    # outputs budget never re-encodes what did not change.
    _sized: tuple[Any, int] | None = PrivateAttr(None)

    def outputs_bytes(self) -> int:
        """The size of ``outputs`` as JSON (0 when there are none)."""
        if not self.outputs:
            return 0
        if self._sized is None or self._sized[0] is not self.outputs:
            size = len(json.dumps(self.outputs, separators=(",", ":")).encode())
            self._sized = (self.outputs, size)
        return self._sized[1]

    phase: TaskPhase = "Pending"
    attempts: int = 0
    job: str | None = None
    outputs: dict[str, Any] | None = None
    outputs_source: OutputsSource | None = None
    idempotency_key: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    auto_recoveries: int = 0
    next_attempt_at: Time | None = Field(None, description="When a Retrying task starts again.")
    failures: int = Field(
        0, description="Task failures since the last recovery: what retry.limit counts."
    )
    held: bool | None = Field(
        None, description="A Step recovery keeps this successor from starting."
    )


class HistoryEntry(Status):
    time: Time
    event: str
    task: str | None = None
    attempt: int | None = None
    by: str | None = None
    request: str | None = None
    message: str | None = None


class AppliedRequest(Status):
    """A RecoveryRequest as applied to this Execution: written in the same conditional write
    as the recovery itself, so neither its application nor its task list is ever lost."""

    uid: str
    name: str
    mode: RecoveryMode
    tasks: list[str] = Field(default_factory=list)
    by: str | None = None
    applied_at: Time
    message: str | None = None
    outcome: Literal["Succeeded", "Failed"] | None = None
    completed_at: Time | None = None


class RecoveryState(Status):
    last_token: str | None = Field(None, description="Last handled headway.dev/recover value.")
    requests: list[AppliedRequest] = Field(
        default_factory=list,
        description="The RecoveryRequests applied, oldest first (the latest 100 and any open).",
    )
    frozen: dict[str, TaskPhase] | None = Field(
        None,
        description="Tasks re-triggered by a Step without updateExecutionPhase, with the phase "
        "each had then: the Execution's phase is computed as if they still had it.",
    )


class ExecutionStatus(Status):
    # (the tasks mapping, the size of all their outputs): carried from one pass to the next
    # so the outputs budget is not summed anew over every task on every completion.
    _outputs_total: tuple[Any, int] | None = PrivateAttr(None)

    def outputs_total(self) -> int:
        if self._outputs_total is None or self._outputs_total[0] is not self.tasks:
            self._outputs_total = (self.tasks, sum(t.outputs_bytes() for t in self.tasks.values()))
        return self._outputs_total[1]

    def carry_outputs_total(self, total: int) -> None:
        """Record the total for the (new) tasks mapping a pass has built."""
        self._outputs_total = (self.tasks, total)

    # (the tasks mapping, how many tasks are in each phase): carried like the total above.
    _phase_counts: tuple[Any, Counter[str]] | None = PrivateAttr(None)

    def phase_counts(self) -> Counter[str]:
        """How many tasks are in each phase (do not change the result: copy it)."""
        if self._phase_counts is None or self._phase_counts[0] is not self.tasks:
            self._phase_counts = (self.tasks, Counter(t.phase for t in self.tasks.values()))
        return self._phase_counts[1]

    def carry_phase_counts(self, counts: Counter[str]) -> None:
        self._phase_counts = (self.tasks, counts)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ExecutionStatus:
        # A deep copy is made to be changed in place (a recovery): its sums start afresh
        # (deepcopy would tie them to the copied tasks mapping, and they would go stale).
        copied = super().__deepcopy__(memo)
        copied._outputs_total = None
        copied._phase_counts = None
        return copied

    phase: ExecutionPhase | None = None
    progress: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    workflow: WorkflowSpec | None = Field(None, description="The resolved spec, fixed at start.")
    params: dict[str, str] | None = Field(None, description="Resolved parameters, fixed at start.")
    outputs_limit: int | None = Field(
        None, description="Bytes the tasks' outputs may take in all, so the status always fits."
    )
    tasks: dict[str, TaskStatus] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(default_factory=list)
    recovery: RecoveryState = Field(default_factory=RecoveryState)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
