"""The Schedule resource: run a Workflow on a cron schedule, each run an Execution named
from its scheduled time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.models.base import Condition, Spec, Status, Time
from headway.models.execution import AutoRecovery, WorkflowRef

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class HistoryLimit(Spec):
    succeeded: int = Field(3, ge=0, description="Succeeded runs kept.")
    failed: int = Field(10, ge=0, description="Failed, Blocked and Stopped runs kept (to recover).")


class RunTemplate(Spec):
    """The Execution each run is: a Workflow by name (a Schedule defines nothing)."""

    workflow_ref: WorkflowRef
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Values may use {{ schedule.time }} and {{ schedule.date }}.",
    )
    auto_recovery: AutoRecovery | None = None
    ttl_seconds_after_finished: int | None = Field(None, ge=0)
    ttl_seconds_after_failure: int | None = Field(None, ge=0)
    job_retention: Literal["All", "Failed"] | None = None


class ScheduleSpec(Spec):
    schedule: str = Field(min_length=1, description="A cron expression (five fields).")
    time_zone: str = Field("UTC", description="An IANA time zone, e.g. Europe/Paris.")
    concurrency_policy: ConcurrencyPolicy = "Forbid"
    starting_deadline_seconds: int | None = Field(
        None, ge=0, description="A run that cannot start this long after its time is missed."
    )
    history_limit: HistoryLimit = Field(default_factory=HistoryLimit)
    suspend: bool = False
    execution: RunTemplate


class MissedRun(Status):
    time: Time
    reason: str
    message: str | None = None


class ScheduleStatus(Status):
    last_schedule_time: Time | None = Field(None, description="The latest time taken care of.")
    next_schedule_time: Time | None = None
    last_successful_time: Time | None = None
    active: list[str] = Field(default_factory=list, description="Runs not ended.")
    active_count: int = Field(0, description="How many (a printer column).")
    missed: list[MissedRun] = Field(
        default_factory=list, description="Runs not started, and why (the latest 20)."
    )
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
