"""The RecoveryRequest resource: an audited, RBAC-controlled recovery of an Execution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from headway.models.base import Spec, Status, Time

RecoveryMode = Literal["Flow", "Step", "ProvideOutputs"]
RecoveryPhase = Literal["Pending", "Applied", "Succeeded", "Failed", "Rejected"]


class ExecutionRef(Spec):
    name: str = Field(min_length=1)


class RecoveryRequestSpec(Spec):
    """Flow: rerun the target(s) and everything downstream. Step: rerun one task only.
    ProvideOutputs: accept the given outputs for a Failed or Blocked task."""

    execution_ref: ExecutionRef
    mode: RecoveryMode = "Flow"
    task: str | None = None
    items: list[Annotated[int, Field(ge=0)]] | None = Field(
        None,
        min_length=1,
        description="Items of the map task named: rerun these, or give them outputs.",
    )
    outputs: dict[str, Any] | None = None
    update_execution_phase: bool = False


class RecoveryRequestStatus(Status):
    phase: RecoveryPhase | None = None
    requested_by: str | None = None
    message: str | None = None
    applied_at: Time | None = None
    completed_at: Time | None = None
    tasks: list[str] | None = Field(None, description="The tasks the recovery reset.")
    items: dict[str, list[int]] | None = Field(None, description="Map task -> items rerun.")
