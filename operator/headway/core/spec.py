"""A Workflow spec made ready to run: defaults merged into tasks, references and
parameters checked. Every problem is reported with a message that names it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from headway.core import conditions, items, templates
from headway.core import dag as dags
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
        for task in spec.every_task()
    }


def task_texts(task: Task) -> list[str]:
    """Every string that takes ``{{ }}`` substitution (a map's items text too)."""
    texts = list(task.command or []) + list(task.args or [])
    texts += [e.value for e in task.env or [] if e.value is not None]
    if task.map is not None and isinstance(task.map.items, str):
        texts.append(task.map.items)
    return texts


def map_problems(task: Task, params: Mapping[str, str | None]) -> list[str]:
    """What is wrong with a task's ``map`` (or its item references without one), as far
    as it can be known before running: a literal list, or a param's value or default."""
    item_refs = [
        ref
        for text in task_texts(task)
        for ref in templates.references(text)
        if isinstance(ref, templates.ItemRef | templates.IndexRef)
    ]
    name = task.name
    if task.map is None:
        if not item_refs:
            return []
        return [f'task "{name}" uses {{{{ item }}}} or {{{{ index }}}} but has no map']
    spec = task.map
    if isinstance(spec.items, str):
        inside = [
            r for r in templates.references(spec.items)
            if isinstance(r, templates.ItemRef | templates.IndexRef)
        ]  # fmt: skip
        if inside:
            return [f'task "{name}": map.items cannot use {{{{ item }}}} or {{{{ index }}}}']
        if not templates.references(spec.items):
            return [f'task "{name}": map.items must be a list or a {{{{ }}}} reference to one']
    source = items.source_of(spec)
    known: Any = spec.items if isinstance(spec.items, list) else None
    if source.param is not None and params.get(source.param) is not None:
        known = params[source.param]
    if known is None:
        return []
    where = f'task "{name}": map.items' + (f' (parameter "{source.param}")' if source.param else "")
    try:
        values = items.as_list(known, where)
    except items.ItemsError as error:
        return [str(error)]
    keys = {r.key for r in item_refs if isinstance(r, templates.ItemRef) and r.key}
    for index, value in enumerate(values):
        for key in sorted(keys):
            try:
                templates.item_value(templates.Item(index, value), key)
            except templates.TemplateError as error:
                return [f'task "{name}": {error} ({{{{ item.{key} }}}})']
    return []


def workflow_problems(spec: WorkflowSpec, copies: int = 1) -> list[str]:
    """Everything wrong with a Workflow spec; empty when it can run. ``copies``: 2 for a
    workflow an Execution carries inline (it holds the spec and its snapshot)."""
    try:
        graph = dags.build([(t.name, t.dependencies) for t in spec.every_task()])
    except dags.DagError as error:
        return error.problems
    problems: list[str] = finally_problems(spec)
    declared = [p.name for p in spec.params]
    problems += [
        f'duplicate parameter "{n}"' for n in sorted({n for n in declared if declared.count(n) > 1})
    ]
    defaults = {p.name: p.default for p in spec.params}
    final = {t.name for t in spec.finally_}
    for name, task in effective_tasks(spec).items():
        problems += map_problems(task, defaults)
        if task.when is not None:
            problems += [
                f'task "{name}" when: {problem}'
                for problem in conditions.problems(
                    task.when, visible_tasks(spec, graph, name, final), declared
                )
            ]
        if not task.image:
            problems.append(f'task "{name}" has no image (set it on the task or in taskDefaults)')
        for text in task_texts(task):
            for ref in templates.references(text):
                if isinstance(ref, templates.ParamRef) and ref.name not in declared:
                    problems.append(f'task "{name}" uses undeclared parameter "{ref.name}"')
                elif isinstance(ref, templates.OutputRef) and not (
                    ref.task in graph.parents
                    and (
                        graph.is_ancestor(ref.task, name)
                        or _main_for_finally(spec, ref.task, name, final)
                    )
                ):
                    problems.append(
                        f'task "{name}" refers to outputs of "{ref.task}", which is not '
                        f"an ancestor of it (add it to dependencies, directly or transitively)"
                    )
                elif isinstance(ref, templates.ItemRef | templates.IndexRef):
                    pass  # map_problems
                elif isinstance(ref, templates.BadRef):
                    problems.append(
                        f'task "{name}" has an unknown reference "{{{{ {ref.expression} }}}}"'
                    )
    problems += size_problems(spec, copies)
    return list(dict.fromkeys(problems))


def visible_tasks(
    spec: WorkflowSpec, graph: dags.Dag, name: str, final: AbstractSet[str]
) -> set[str]:
    """The tasks whose outputs and phase ``name`` may use: its ancestors; for a finally
    task also every task (they have all ended when it starts)."""
    seen = graph.ancestors(name)
    if name in final:
        seen |= {t.name for t in spec.tasks}
    return seen


def _main_for_finally(spec: WorkflowSpec, task: str, name: str, final: AbstractSet[str]) -> bool:
    """``task`` is a task (not a finally one) and ``name`` a finally task."""
    return name in final and task not in final


def finally_problems(spec: WorkflowSpec) -> list[str]:
    """Finally tasks depend only on each other, and nothing depends on them."""
    final = {t.name for t in spec.finally_}
    found = [
        f'task "{t.name}" depends on finally task "{d}" (finally tasks run after every task)'
        for t in spec.tasks
        for d in t.dependencies
        if d in final
    ]
    found += [
        f'finally task "{t.name}" depends on "{d}", which is not a finally task (finally tasks '
        "run once every task has ended: they may depend only on each other)"
        for t in spec.finally_
        for d in t.dependencies
        if d not in final
    ]
    found += [
        f'finally task "{t.name}" has a map: a finally task runs as one Job'
        for t in spec.finally_
        if t.map is not None
    ]
    return found


# The largest object the API server stores: etcd's default request limit (1.5 MiB).
OBJECT_LIMIT = 1_572_864
# One task's status at its largest, outputs aside (messages clipped): measured, with its
# name as a key, in tests/unit/test_engine_correctness.py.
TASK_STATUS_BYTES = 720
HISTORY_BYTES = 200 * 400  # the bounded history at its largest
ROOM_BYTES = 16_384  # the rest of the status: conditions, recovery records, params
MIN_OUTPUTS_BYTES = 64 * 1024  # what must be left for the tasks' outputs, all together


def fixed_status_bytes(spec: WorkflowSpec, copies: int = 1) -> int:
    """An upper bound of an Execution's size, outputs aside: the spec (``copies``: once
    snapshotted, twice when the Execution also carries it inline), every task's status,
    the history, the items of literal lists, room for the rest."""
    spec_bytes = len(json.dumps(spec.model_dump(by_alias=True, exclude_none=True, mode="json")))
    names = sum(len(t.name) for t in spec.every_task())
    literal = sum(
        len(t.map.items) * items.ITEM_BYTES
        for t in spec.tasks
        if t.map is not None and isinstance(t.map.items, list)
    )
    return (
        copies * spec_bytes
        + len(spec.every_task()) * TASK_STATUS_BYTES
        + names
        + literal
        + HISTORY_BYTES
        + ROOM_BYTES
    )


def outputs_limit(spec: WorkflowSpec, copies: int = 1) -> int:
    """How many bytes the tasks' outputs (and items not known before running) may take
    in all, so the status always fits."""
    return OBJECT_LIMIT - fixed_status_bytes(spec, copies)


def size_problems(spec: WorkflowSpec, copies: int = 1) -> list[str]:
    if outputs_limit(spec, copies) >= MIN_OUTPUTS_BYTES:
        return []
    return [
        f"the workflow is too large: with {len(spec.every_task())} tasks its Execution's status "
        "could "
        f"reach {fixed_status_bytes(spec, copies) + MIN_OUTPUTS_BYTES} bytes, more than the "
        f"{OBJECT_LIMIT} bytes the API server stores in one object (split it into smaller "
        "workflows, shorten the task specs, or pass long lists as outputs or params)"
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
    if not problems:
        for task in effective_tasks(spec).values():
            if task.map is not None and items.source_of(task.map).param:
                problems += map_problems(task, values)
    return values, problems
