"""The Execution resource: one run of a Workflow, and everything learnt while running it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from headway.models.base import Condition, Spec, Status, Time
from headway.models.recovery import RecoveryMode
from headway.models.workflow import WorkflowSpec

ExecutionPhase = Literal[
    "Pending", "Running", "Succeeded", "Failed", "Blocked", "Paused", "Suspended", "Stopped"
]
TaskPhase = Literal[
    "Pending", "Running", "Retrying", "Succeeded", "Failed", "Blocked", "Skipped", "Stopped"
]
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
    suspend: bool = Field(
        False, description="Start nothing new (running Jobs finish); false: continue."
    )
    stop: bool = Field(
        False,
        description="Stop now: delete every running and pending Job, run the finally tasks, "
        "end Stopped. Set it back to false to recover the run.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Delete the Execution (and its Jobs) this long after it Succeeded."
    )
    ttl_seconds_after_failure: int | None = Field(
        None,
        ge=0,
        description="The same after it ended Failed, Blocked or Stopped (default: kept, to be "
        "recovered).",
    )
    job_retention: Literal["All", "Failed"] | None = Field(
        None,
        description="All: Jobs kept until the Execution goes. Failed: Jobs of succeeded attempts "
        "deleted once their outputs are in the status (their logs go with them).",
    )

    @model_validator(mode="after")
    def _one_workflow(self) -> ExecutionSpec:
        if (self.workflow_ref is None) == (self.workflow is None):
            raise ValueError("set exactly one of workflowRef and workflow")
        return self


class TaskStatus(Status):
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
    map: MapStatus | None = Field(None, description="A map task's items, once expanded.")


class ItemStatus(Status):
    """What a map item's phase letter and attempts cannot say: written only for items
    that failed, retry, stalled or were given outputs by hand (zeros left out)."""

    attempts: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    auto_recoveries: int | None = None
    failures: int | None = None
    next_attempt_at: Time | None = None
    outputs_source: OutputsSource | None = None


class MapStatus(Status):
    """A map task's items, compact so that 10,000 fit in one status: a phase letter per
    item (``core.items.LETTERS``), the idempotency key prefix of each (to keep items when
    the map is expanded again), and detail only where an item needs more than that."""

    count: int = 0
    phases: str = ""
    keys: str = Field("", description="core.items.KEY_CHARS hex characters per item.")
    attempts: dict[str, int] = Field(
        default_factory=dict, description="Item -> attempts, where not the phase's default."
    )
    outputs: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict,
        description="Page (item // core.items.PAGE) -> item -> outputs, for Succeeded items "
        "with any: paged, so that a write sends the one page that changed.",
    )
    items: dict[str, ItemStatus] = Field(
        default_factory=dict,
        description="Item -> its state, for items that failed, retry, stalled or were "
        "recovered: what the phase letter and attempts cannot say.",
    )
    stored: dict[str, str] = Field(
        default_factory=dict,
        description="Page -> digest, for pages of outputs kept in an OutputPage the Execution "
        "owns (core.items.page_name) instead of here: they are left out of ``outputs``.",
    )
    reserved: int = Field(0, description="Status bytes set aside for these items.")

    @model_serializer(mode="wrap")
    def _inline_pages(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Written without the pages kept in OutputPages (held here only once read back)."""
        data: dict[str, Any] = handler(self)
        if self.stored and isinstance(data.get("outputs"), dict):
            data["outputs"] = {p: v for p, v in data["outputs"].items() if p not in self.stored}
        return data


class HistoryEntry(Status):
    time: Time
    event: str
    task: str | None = None
    item: int | None = None
    items: list[int] | None = Field(None, description="The items a recovery reran.")
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
    items: dict[str, list[int]] | None = Field(None, description="Map task -> items rerun.")
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


TaskStatus.model_rebuild()


class ExecutionStatus(Status):
    phase: ExecutionPhase | None = None
    progress: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    workflow: WorkflowSpec | None = Field(None, description="The resolved spec, fixed at start.")
    params: dict[str, str] | None = Field(None, description="Resolved parameters, fixed at start.")
    stopped_at: Time | None = Field(
        None,
        description="When spec.stop stopped the run: nothing starts until a recovery (which "
        "clears it).",
    )
    outputs_limit: int | None = Field(
        None, description="Bytes the tasks' outputs may take in all, so the status always fits."
    )
    tasks: dict[str, TaskStatus] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(default_factory=list)
    recovery: RecoveryState = Field(default_factory=RecoveryState)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
