"""Admission verdicts: what is wrong with a submitted spec, every problem named.

Pure: the webhook hands over the spec as the API server received it (and the
named Workflow, when it exists); an empty list means admit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from headway.core import schedules
from headway.core.spec import resolve_params, workflow_problems
from headway.models.base import validation_message
from headway.models.execution import ExecutionSpec
from headway.models.recovery import RecoveryRequestSpec
from headway.models.schedule import ScheduleSpec
from headway.models.workflow import WorkflowSpec

M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], spec: Any) -> M | list[str]:
    """The spec as ``model``, or the problems, each naming its field."""
    if not isinstance(spec, Mapping):
        return ["spec: must be an object"]
    try:
        return model.model_validate(dict(spec))
    except ValidationError as error:
        return [validation_message(error)]


def workflow_verdict(spec: Any) -> list[str]:
    parsed = _parsed(WorkflowSpec, spec)
    return parsed if isinstance(parsed, list) else workflow_problems(parsed)


def execution_verdict(spec: Any, referenced: WorkflowSpec | None = None) -> list[str]:
    """``referenced``: the spec of the Workflow a ``workflowRef`` names, when it exists
    and is valid (a missing one is no problem yet: it may be created next)."""
    parsed = _parsed(ExecutionSpec, spec)
    if isinstance(parsed, list):
        return parsed
    workflow = parsed.workflow or referenced
    if workflow is None:
        return []
    problems = workflow_problems(workflow, copies=2) if parsed.workflow else []
    if problems:
        return problems
    return resolve_params(workflow, parsed.params)[1]


def request_verdict(spec: Any) -> list[str]:
    parsed = _parsed(RecoveryRequestSpec, spec)
    if isinstance(parsed, list):
        return parsed
    if parsed.mode != "Flow" and parsed.task is None:
        return [f"task: required for {parsed.mode}"]
    if parsed.mode == "ProvideOutputs" and parsed.outputs is None:
        return ["outputs: required for ProvideOutputs"]
    if parsed.items is not None and parsed.task is None:
        return ["items: name the map task they belong to (task)"]
    return []


def schedule_verdict(spec: Any) -> list[str]:
    """A Schedule: its fields, its cron expression and time zone (a Schedule runs a
    Workflow by name and defines nothing: no inline workflow)."""
    parsed = _parsed(ScheduleSpec, spec)
    return parsed if isinstance(parsed, list) else schedules.problems(parsed)
