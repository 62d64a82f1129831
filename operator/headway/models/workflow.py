"""The Workflow resource: a DAG of tasks with parameters and defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from headway.models.base import DNS_LABEL, Condition, Spec, Status

FailurePolicy = Literal["Continue", "FailFast"]
TriggerRule = Literal["AllSucceeded", "AllDone", "AnyFailed", "NoneFailed"]


class RetryPolicy(Spec):
    """Retries of a failing task: each a new Job, after exponential back-off."""

    limit: int = Field(0, ge=0, le=100, description="Retries after the first attempt.")
    backoff_seconds: float = Field(10, ge=0, description="Delay before the first retry.")
    backoff_factor: float = Field(2, ge=1, description="Each further delay is multiplied by this.")
    max_backoff_seconds: float = Field(300, ge=0, description="Cap on any one delay.")


class EnvVar(Spec):
    """A container environment variable; ``value`` may use ``{{ }}`` substitution."""

    name: str = Field(min_length=1)
    value: str | None = None
    value_from: dict[str, Any] | None = Field(None, description="A Kubernetes EnvVarSource.")


class TaskTemplate(Spec):
    """The fields a task and ``taskDefaults`` share."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    retry: RetryPolicy | None = None
    timeout_seconds: int | None = Field(
        None, ge=1, description="The Job's activeDeadlineSeconds: a slower attempt fails."
    )
    resources: dict[str, Any] | None = Field(None, description="Container ResourceRequirements.")
    service_account_name: str | None = None
    working_dir: str | None = None
    pod_template: dict[str, Any] | None = Field(
        None, description="Extra PodSpec fields: nodeSelector, tolerations, volumes, ..."
    )


MAX_ITEMS = 10_000  # items in one map: the most one Execution's status is sized for


class MapSpec(Spec):
    """Fan a task out over a list: one Job per item attempt (``{{ item }}``,
    ``{{ item.KEY }}``, ``{{ index }}`` in command, args and env values)."""

    items: str | list[Any] = Field(
        description="A JSON list: {{ tasks.X.outputs.K }} of an ancestor, {{ params.P }}, "
        "or a literal list."
    )
    parallelism: int | None = Field(None, ge=1, description="Items running at once.")
    max_failures: int = Field(
        0, ge=0, description="Items that may fail with the task still Succeeded."
    )


class Task(TaskTemplate):
    """One node of the DAG; runs as one Job per attempt (a map: per item attempt)."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="A DNS-1123 label.")
    dependencies: list[str] = Field(default_factory=list)
    map: MapSpec | None = None
    when: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="A CEL expression over params and the ancestors' outputs and phases: "
        "false skips the task.",
    )
    trigger: TriggerRule = Field(
        "AllSucceeded", description="When the task may start, from its dependencies' ends."
    )


class Param(Spec):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    default: str | None = None


class WorkflowSpec(Spec):
    """A DAG of tasks."""

    params: list[Param] = Field(default_factory=list)
    task_defaults: TaskTemplate | None = None
    failure_policy: FailurePolicy = "Continue"
    parallelism: int | None = Field(
        None, ge=1, description="Jobs (tasks and map items) running at once in one Execution."
    )
    tasks: list[Task] = Field(min_length=1)
    finally_: list[Task] = Field(
        default_factory=list,
        alias="finally",
        description="Tasks run once every task has ended, whatever the outcome (they may "
        "depend on each other); a failing one fails the Execution.",
    )

    def every_task(self) -> list[Task]:
        """The tasks, then the finally tasks."""
        return [*self.tasks, *self.finally_]


class WorkflowStatus(Status):
    task_count: int | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
