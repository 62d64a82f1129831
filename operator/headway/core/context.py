"""The fixed facts a scheduling pass works from: the Execution's owner, its workflow
snapshot made ready to schedule, its params and automatic-recovery settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from headway.core import dag as dags
from headway.core.render import Owner
from headway.core.spec import effective_tasks
from headway.models.execution import AutoRecovery
from headway.models.workflow import Task, WorkflowSpec


@dataclass(frozen=True)
class Prepared:
    """A workflow made ready to schedule: defaults merged into tasks, the graph built.
    Fixed for an Execution once started (its workflow is a snapshot), so callers may keep
    it from one pass to the next."""

    tasks: Mapping[str, Task]
    dag: dags.Dag
    position: Mapping[str, int]  # each task's place in dag.order


def prepare(workflow: WorkflowSpec) -> Prepared:
    tasks = effective_tasks(workflow)
    dag = dags.build([(t.name, t.dependencies) for t in tasks.values()])
    return Prepared(tasks, dag, {name: i for i, name in enumerate(dag.order)})


@dataclass(frozen=True)
class Context:
    """The fixed facts of one Execution run."""

    owner: Owner
    workflow: WorkflowSpec
    params: Mapping[str, str]
    auto_recovery: AutoRecovery = field(default_factory=AutoRecovery)
    prepared: Prepared | None = None  # prepare(workflow), if the caller kept it
    hold: Literal["suspend", "stop"] | None = None  # spec.suspend, spec.stop (stop wins)
