"""Starting an Execution: resolve its workflow and parameters, snapshot them into status.

An Execution that cannot start (its Workflow is missing or invalid, a parameter
is unknown or missing) gets ``Ready=False`` with a message naming the problem,
and no Job is created.
"""

from __future__ import annotations

import datetime

from headway.core import history
from headway.core.spec import outputs_limit, resolve_params, workflow_problems
from headway.models.base import Condition
from headway.models.execution import ExecutionSpec, ExecutionStatus, HistoryEntry, TaskStatus
from headway.models.workflow import WorkflowSpec, WorkflowStatus


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Replace the condition of its type; keep the transition time if the status is the same."""
    old = next((c for c in conditions if c.type == new.type), None)
    if old and old.status == new.status:
        new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    return [c for c in conditions if c.type != new.type] + [new]


def not_ready(
    status: ExecutionStatus, reason: str, message: str, now: datetime.datetime
) -> ExecutionStatus:
    """``Ready=False`` with the reason; nothing else changes (no Job will start)."""
    updated = status.model_copy(deep=True)
    updated.phase = updated.phase or "Pending"
    updated.conditions = set_condition(
        updated.conditions,
        Condition(
            type="Ready", status="False", reason=reason, message=message, last_transition_time=now
        ),
    )
    return updated


def start(
    spec: ExecutionSpec,
    status: ExecutionStatus,
    referenced: WorkflowSpec | None,
    now: datetime.datetime,
    definer: str | None = None,
) -> ExecutionStatus:
    """The status of a not-yet-started Execution: snapshotted and Pending, or Ready=False.

    ``referenced`` is the spec of the Workflow named by ``workflowRef`` (None when it
    does not exist or the Execution carries its workflow inline); ``definer``: who defined
    what runs, as checked at admission (recorded in the history)."""
    workflow = spec.workflow or referenced
    if workflow is None:
        name = spec.workflow_ref.name if spec.workflow_ref else "?"
        return not_ready(status, "WorkflowNotFound", f'Workflow "{name}" not found', now)
    copies = 2 if spec.workflow is not None else 1
    problems = workflow_problems(workflow, copies)
    if problems:
        return not_ready(status, "InvalidWorkflow", "; ".join(problems), now)
    params, param_problems = resolve_params(workflow, spec.params)
    if param_problems:
        return not_ready(status, "InvalidParams", "; ".join(param_problems), now)
    started = status.model_copy(deep=True)
    started.workflow, started.params = workflow, params
    started.outputs_limit = outputs_limit(workflow, copies)
    started.tasks = {t.name: TaskStatus() for t in workflow.every_task()}
    started.phase, started.progress = "Pending", f"0/{len(started.tasks)}"
    started.conditions = set_condition(
        started.conditions,
        Condition(
            type="Ready",
            status="True",
            reason="Started",
            message="workflow resolved and snapshotted",
            last_transition_time=now,
        ),
    )
    history.append(started.history, HistoryEntry(time=now, event="Created", by=definer))
    return started


def workflow_status(
    old: WorkflowStatus,
    spec: WorkflowSpec | str | None,
    generation: int | None,
    now: datetime.datetime,
    unchecked: str | None = None,
) -> WorkflowStatus:
    """A Workflow's status: ``Ready`` with every problem named, and its task count.
    ``spec`` is the parsed spec, or why it does not parse; ``unchecked``: why nothing of
    it may run, when nobody was checked as allowed to define it."""
    if isinstance(spec, str) or spec is None:
        problems, count = [spec or "no spec"], None
    else:
        problems, count = workflow_problems(spec), len(spec.every_task())
    reason = "Invalid" if problems else "Valid"
    if unchecked and not problems:
        problems, reason = [unchecked], "DefinerNotChecked"
    ready = Condition(
        type="Ready",
        status="False" if problems else "True",
        reason=reason,
        message="; ".join(problems) if problems else "the workflow is a valid DAG",
        last_transition_time=now,
        observed_generation=generation,
    )
    new = old.model_copy(deep=True)
    new.task_count, new.observed_generation = count, generation
    new.conditions = set_condition(new.conditions, ready)
    return new
