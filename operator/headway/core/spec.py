"""A Workflow spec made ready to run: defaults merged into tasks, references and
parameters checked. Every problem is reported with a message that names it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from headway.core import dag as dags
from headway.core import templates
from headway.models.workflow import Task, WorkflowSpec

JSON = dict[str, Any]


def _merge(base: JSON, override: JSON) -> JSON:
    """Deep-merge dicts; ``env`` lists merge by name (the task's entry wins)."""
    merged = dict(base)
    for key, value in override.items():
        if key == "env" and isinstance(merged.get("env"), list):
            names = {e["name"] for e in value}
            merged["env"] = [e for e in merged["env"] if e["name"] not in names] + value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective_tasks(spec: WorkflowSpec) -> dict[str, Task]:
    """Each task with ``taskDefaults`` merged under it, by name, in declaration order."""
    defaults = spec.task_defaults.model_dump(exclude_unset=True) if spec.task_defaults else {}
    return {
        task.name: Task.model_validate(_merge(defaults, task.model_dump(exclude_unset=True)))
        for task in spec.tasks
    }


def task_texts(task: Task) -> list[str]:
    """Every string that takes ``{{ }}`` substitution."""
    texts = list(task.command or []) + list(task.args or [])
    texts += [e.value for e in task.env or [] if e.value is not None]
    return texts


def workflow_problems(spec: WorkflowSpec) -> list[str]:
    """Everything wrong with a Workflow spec; empty when it can run."""
    try:
        graph = dags.build([(t.name, t.dependencies) for t in spec.tasks])
    except dags.DagError as error:
        return error.problems
    problems: list[str] = []
    declared = [p.name for p in spec.params]
    problems += [
        f'duplicate parameter "{n}"' for n in sorted({n for n in declared if declared.count(n) > 1})
    ]
    for name, task in effective_tasks(spec).items():
        if not task.image:
            problems.append(f'task "{name}" has no image (set it on the task or in taskDefaults)')
        for text in task_texts(task):
            for ref in templates.references(text):
                if isinstance(ref, templates.ParamRef) and ref.name not in declared:
                    problems.append(f'task "{name}" uses undeclared parameter "{ref.name}"')
                elif isinstance(ref, templates.OutputRef) and (
                    ref.task not in graph.parents or not graph.is_ancestor(ref.task, name)
                ):
                    problems.append(
                        f'task "{name}" refers to outputs of "{ref.task}", which is not '
                        f"an ancestor of it (add it to dependencies, directly or transitively)"
                    )
                elif isinstance(ref, templates.BadRef):
                    problems.append(
                        f'task "{name}" has an unknown reference "{{{{ {ref.expression} }}}}"'
                    )
    problems += size_problems(spec)
    return list(dict.fromkeys(problems))


# The largest object the API server stores: etcd's default request limit (1.5 MiB).
OBJECT_LIMIT = 1_572_864
TASK_STATUS_BYTES = 800  # one task's status, outputs aside, at its largest (messages clipped)
HISTORY_BYTES = 200 * 400  # the bounded history at its largest
MIN_OUTPUTS_BYTES = 64 * 1024  # what must be left for the tasks' outputs, all together


def fixed_status_bytes(spec: WorkflowSpec) -> int:
    """An upper bound of an Execution's size, outputs aside: the spec (inline and
    snapshotted: twice), every task's status, the history, room for the rest."""
    spec_bytes = len(json.dumps(spec.model_dump(by_alias=True, exclude_none=True, mode="json")))
    names = sum(len(t.name) for t in spec.tasks)
    return 2 * spec_bytes + len(spec.tasks) * TASK_STATUS_BYTES + names + HISTORY_BYTES + 16_384


def outputs_limit(spec: WorkflowSpec) -> int:
    """How many bytes the tasks' outputs may take in all, so the status always fits."""
    return OBJECT_LIMIT - fixed_status_bytes(spec)


def size_problems(spec: WorkflowSpec) -> list[str]:
    if outputs_limit(spec) >= MIN_OUTPUTS_BYTES:
        return []
    return [
        f"the workflow is too large: with {len(spec.tasks)} tasks its Execution's status could "
        f"reach {fixed_status_bytes(spec) + MIN_OUTPUTS_BYTES} bytes, more than the "
        f"{OBJECT_LIMIT} bytes the API server stores in one object (split it into smaller "
        "workflows or shorten the task specs)"
    ]


def resolve_params(
    spec: WorkflowSpec, given: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Parameter values (given, else default) and the problems: unknown or missing ones."""
    declared = {p.name: p for p in spec.params}
    problems = [
        f'unknown parameter "{n}" (declared: {", ".join(declared) or "none"})'
        for n in given
        if n not in declared
    ]
    values: dict[str, str] = {}
    for name, param in declared.items():
        if name in given:
            values[name] = given[name]
        elif param.default is not None:
            values[name] = param.default
        else:
            problems.append(f'parameter "{name}" is required and has no default')
    return values, problems
