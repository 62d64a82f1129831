"""A pass that looks only at what changed plans exactly what a pass over every task plans.

Random DAGs run through random sequences of passes: Jobs appear, run quietly, sit
Pending, succeed (with good or bad outputs), fail, stall or vanish; time moves; now and
then a recovery rewrites the status. At every pass the planner is run twice on the same
input — once over every task, once given what the pass before left (``Since``) and the
tasks whose facts changed — and the two plans must be equal in every respect."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headway.core.actions import CreateJob
from headway.core.context import Context
from headway.core.facts import ObservedJob, quiet_of
from headway.core.plan import Plan, Since, outputs_bytes, plan
from headway.core.recovery import Order, Recovered, recover
from headway.core.render import Owner
from headway.core.start import start
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus
from headway.models.workflow import WorkflowSpec

T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")
KINDS = ["quiet", "pending", "ok", "bad-outputs", "failed", "stalled", "vanish", "same"]


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(2, 7))
    tasks: list[dict[str, Any]] = []
    for i in range(size):
        parents = sorted(draw(st.sets(st.integers(0, i - 1), max_size=2))) if i else []
        conditions = [None, "true", "false"] + [f"tasks.t{p}.outputs.v == 1" for p in parents]
        task: dict[str, Any] = {
            "name": f"t{i}",
            "dependencies": [f"t{p}" for p in parents],
            "command": ["true"],
            "retry": {"limit": draw(st.integers(0, 2)), "backoffSeconds": 5},
            "trigger": draw(st.sampled_from(TRIGGERS)),
        }
        when = draw(st.sampled_from(conditions))
        if when is not None:
            task["when"] = when
        tasks.append(task)
    return tasks


TRIGGERS = ["AllSucceeded", "AllSucceeded", "AllDone", "AnyFailed", "NoneFailed"]


def context(tasks: list[dict[str, Any]], policy: str) -> Context:
    final = [{"name": "fin", "command": ["true"]}] if len(tasks) % 2 else []
    workflow = WorkflowSpec.model_validate(
        {"taskDefaults": {"image": "img"}, "failurePolicy": policy, "tasks": tasks,
         "finally": final}
    )  # fmt: skip
    return Context(OWNER, workflow, {}, AutoRecovery(max_attempts=2, stall_timeout_seconds=30))


def started(ctx: Context) -> ExecutionStatus:
    spec = ExecutionSpec.model_validate(
        {"workflow": ctx.workflow.model_dump(by_alias=True, exclude_none=True)}
    )
    return start(spec, ExecutionStatus(), None, T0)


def fact(job: ObservedJob, kind: str, now: datetime.datetime) -> ObservedJob | None:
    """``job`` as the caches show it next; None when it vanished."""
    base = ObservedJob(name=job.name, task=job.task, attempt=job.attempt, outcome="Running")
    outcomes = {
        "quiet": replace(base, started_at=now),
        "pending": replace(base, pending_since=now, pending_reason="ErrImagePull"),
        "ok": replace(base, outcome="Succeeded", termination_message='{"v": 1}', exit_code=0,
                      finished_at=now),
        "bad-outputs": replace(base, outcome="Succeeded", termination_message="not json",
                               exit_code=0, finished_at=now),
        "failed": replace(base, outcome="Failed", exit_code=1, reason="Error", finished_at=now),
        "stalled": replace(base, stalled="pod evicted"),
    }  # fmt: skip
    return outcomes.get(kind)


def summary(result: Plan) -> tuple[Any, ...]:
    jobs = [(type(j).__name__, getattr(j, "name", None)) for j in result.jobs]
    events = [(e.type, e.reason, e.message) for e in result.events]
    return result.status.wire(), jobs, events, result.wake_at, result.watch


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tasks=dags(),
    policy=st.sampled_from(["Continue", "FailFast"]),
    steps=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 20), st.sampled_from(KINDS)), max_size=4),
            st.integers(0, 20),  # seconds that pass
            st.booleans(),  # a recovery of every failed task, if there is one
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_the_incremental_pass_plans_what_the_full_pass_plans(
    tasks: list[dict[str, Any]], policy: str, steps: list[tuple[list[tuple[int, str]], int, bool]]
) -> None:
    ctx = context(tasks, policy)
    status, now = started(ctx), T0
    facts: dict[str, ObservedJob] = {}
    since: Since | None = None
    touched: set[str] = set()
    for changes, seconds, recovering in steps:
        now += datetime.timedelta(seconds=seconds)
        for index, kind in changes:
            names = sorted(facts)
            if not names or kind == "same":
                continue
            name = names[index % len(names)]
            new = fact(facts[name], kind, now)
            if new is None:
                del facts[name]
            else:
                facts[name] = new
            touched.add(facts[name].task if name in facts else name.split("-")[1])
        if recovering:
            recovered = recover(status, Order("Flow", by="someone"), now)
            if isinstance(recovered, Recovered):
                status = recovered.status
        full = plan(ctx, status, facts, now)
        quick = plan(ctx, status, facts, now, None, quiet_of(facts), since, touched)
        assert summary(quick) == summary(full)
        # The sums carried from pass to pass are what a recount finds.
        recount = Counter(task.phase for task in quick.status.tasks.values())
        assert quick.since is not None and quick.since.counts is not None
        assert +quick.since.counts == +recount
        assert quick.since.outputs_total == sum(
            outputs_bytes(t.outputs) for t in quick.status.tasks.values()
        )
        done = recount["Succeeded"] + recount["Skipped"]
        assert full.status.progress == f"{done}/{len(full.status.tasks)}"
        # The plan is carried out; what it created shows up in the caches, running.
        status, since, touched = quick.status, quick.since, set()
        for action in quick.jobs:
            if isinstance(action, CreateJob):
                facts[action.name] = ObservedJob(
                    name=action.name, task=action.task, attempt=action.attempt, outcome="Running"
                )
                touched.add(action.task)


def test_sums_carried_for_another_tasks_mapping_are_not_used() -> None:
    """A recovery copies the status and changes tasks: sums carried for the mapping the
    pass before planned do not hold for the copy, and the plan counts afresh."""
    ctx = context([{"name": "a", "command": ["true"]}, {"name": "b", "command": ["true"]}],
                  "Continue")  # fmt: skip
    status = ExecutionStatus.model_validate(
        {"tasks": {"a": {"phase": "Failed"}, "b": {"phase": "Succeeded", "outputs": {"n": 1}}}}
    )
    stale = Since(dict(status.tasks), frozenset(), Counter({"Succeeded": 2}), 999)
    result = plan(ctx, status, {}, T0, since=stale, touched=set())
    assert result.status.phase == "Failed" and result.status.progress == "1/2"
    assert result.since is not None and result.since.outputs_total == 7
