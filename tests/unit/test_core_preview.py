"""The preview and the offers say exactly what the engine then does: for every case of
the table, each offered action, applied by ``recover``, reruns what its preview names and
leaves every other task as it was; an action not offered is one the engine refuses."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from headway.core.preview import ACTIONS, offers, preview
from headway.core.recovery import Order, Recovered, graph_of, recover
from headway.core.vocabulary import RECOVER_WARNING
from headway.models.execution import ExecutionStatus

T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
# a -> b -> d, a -> c -> d
DIAMOND = [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]


def status(phases: dict[str, Any], frozen: dict[str, str] | None = None) -> ExecutionStatus:
    tasks = {}
    for name, phase in phases.items():
        held = phase == "Held"
        tasks[name] = {"phase": "Pending" if held else phase, "attempts": 1, "held": held or None}
    return ExecutionStatus.model_validate({
        "phase": "Failed",
        "workflow": {"tasks": [{"name": n, "image": "i", "command": ["true"], "dependencies": d}
                               for n, d in DIAMOND]},
        "params": {},
        "tasks": tasks,
        "recovery": {"frozen": frozen},
    })  # fmt: skip


CASES = {
    "b failed": status({"a": "Succeeded", "b": "Failed", "c": "Succeeded", "d": "Pending"}),
    "b blocked, c running": status(
        {"a": "Succeeded", "b": "Blocked", "c": "Running", "d": "Pending"}
    ),
    "a step held d": status(
        {"a": "Succeeded", "b": "Succeeded", "c": "Succeeded", "d": "Held"}, frozen={"b": "Failed"}
    ),
    "b failed again, d held": status(
        {"a": "Succeeded", "b": "Failed", "c": "Succeeded", "d": "Held"}
    ),
    "all succeeded": status({t: "Succeeded" for t, _ in DIAMOND}),
    "a failed": status({"a": "Failed", "b": "Pending", "c": "Pending", "d": "Pending"}),
}


def order_of(action: str, task: str | None) -> Order:
    mode = {"recover-workflow": "Flow", **{a: m for a, _, m in ACTIONS}}[action]
    outputs = {"given": True} if mode == "ProvideOutputs" else None
    return Order(mode, task=task, outputs=outputs, by="alice")  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_offer_does_what_it_says_and_nothing_else_is_accepted(case: str) -> None:
    before = CASES[case]
    offered = offers(before)
    graph = graph_of(before)
    assert graph is not None
    for task in ["", *before.tasks]:
        shown = {o.action: o for o in offered.get(task, [])}
        actions = ["recover-workflow"] if task == "" else [a for a, _, _ in ACTIONS]
        below = graph.closure([task]) - {task} if task else set()
        for action in actions:
            result = recover(before, order_of(action, task or None), T0)
            if action not in shown:
                assert not isinstance(result, Recovered), (case, task, action)
                continue
            assert isinstance(result, Recovered), (case, task, action, result)
            assert result.tasks == shown[action].reruns, (case, task, action)
            for name, state in before.tasks.items():
                if name in result.tasks:
                    continue
                # Kept as it was; only a hold below the task may change (a Step holds
                # its successors, ProvideOutputs lets the flow go on past them).
                after = result.status.tasks[name]
                if name in below:
                    after = after.model_copy(update={"held": state.held})
                assert after == state, (case, task, action, name)


def test_recover_workflow_names_held_tasks_and_is_offered_when_only_they_remain() -> None:
    only_held = offers(CASES["a step held d"])
    [whole] = only_held[""]
    assert (whole.action, whole.reruns, whole.warning) == (
        "recover-workflow",
        ["d"],
        RECOVER_WARNING,
    )
    [again] = offers(CASES["b failed again, d held"])[""]
    assert again.reruns == ["b", "d"]


def test_a_step_is_not_offered_on_a_task_whose_dependencies_have_not_succeeded() -> None:
    offered = offers(CASES["b failed"])
    assert "retry-step" not in {o.action for o in offered.get("d", [])}
    assert "retry-step" in {o.action for o in offered["b"]}
    assert "provide-outputs" not in {o.action for o in offered["a"]}  # a Succeeded


def test_the_preview_says_what_is_kept_and_why_not() -> None:
    shown = preview(CASES["b failed"], Order("Flow", task="b"))
    assert (shown.reruns, shown.kept, shown.problem) == (["b", "d"], ["a", "c"], None)
    busy = preview(CASES["b blocked, c running"], Order("Flow", task="a"))
    assert busy.reruns == [] and busy.problem is not None and "still running" in busy.problem


def test_nothing_is_offered_before_the_run_starts() -> None:
    assert offers(ExecutionStatus()) == {}
