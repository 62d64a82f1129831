"""The console's pure parts: what a recovery asked for from the page may be (the server
checks it again), and a task's attempts from its Jobs and pods."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from headway.console.views import attempts, detail, preview_of, request_spec
from headway.core.recovery import Order, Rejected, recover
from headway.models.execution import ExecutionStatus

T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"mode": "Flow"}, {"executionRef": {"name": "x"}, "mode": "Flow"}),
        (
            {"mode": "Flow", "task": "b"},
            {"executionRef": {"name": "x"}, "mode": "Flow", "task": "b"},
        ),
        (
            {"mode": "Step", "task": "b", "updateExecutionPhase": True},
            {
                "executionRef": {"name": "x"},
                "mode": "Step",
                "task": "b",
                "updateExecutionPhase": True,
            },
        ),
        (
            {"mode": "ProvideOutputs", "task": "b", "outputs": {"n": 1}},
            {
                "executionRef": {"name": "x"},
                "mode": "ProvideOutputs",
                "task": "b",
                "outputs": {"n": 1},
            },
        ),
        ({"mode": "Delete"}, "mode must be one of Flow, Step, ProvideOutputs"),
        ({"mode": "Step"}, "Step needs a task"),
        ({"mode": "ProvideOutputs", "task": "b", "outputs": [1]}, "outputs must be a JSON object"),
        ({"mode": "Flow", "task": 7}, "task must be a task's name"),
    ],
)
def test_a_request_from_the_page_is_checked(body: dict[str, Any], expected: Any) -> None:
    assert request_spec("x", body) == expected


def test_attempts_newest_first_with_exit_codes() -> None:
    def job(n: int) -> dict[str, Any]:
        labels = {"headway.dev/task": "b", "headway.dev/attempt": str(n)}
        return {"metadata": {"name": f"x-b-{n}", "labels": labels}, "status": {}}

    def pod(n: int, code: int) -> dict[str, Any]:
        state = {"terminated": {"exitCode": code, "message": "boom" if code else "{}"}}
        return {
            "metadata": {"name": f"x-b-{n}-p", "labels": {"job-name": f"x-b-{n}"}},
            "status": {"containerStatuses": [{"name": "main", "state": state}]},
        }

    found = attempts([job(1), job(2)], [pod(1, 3), pod(2, 0)])
    assert [(a["attempt"], a["pod"], a["exitCode"], a["outcome"]) for a in found] == [
        (2, "x-b-2-p", 0, "Succeeded"),
        (1, "x-b-1-p", 3, "Failed"),
    ]


def test_detail_carries_the_graph_of_the_snapshot() -> None:
    execution = {
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {"workflowRef": {"name": "w"}},
        "status": {
            "workflow": {
                "tasks": [{"name": "a"}, {"name": "b", "dependencies": ["a"], "when": "true"}],
                "finally": [{"name": "z", "trigger": "AllDone"}],
            }
        },
    }
    shown = detail(execution)
    plain = {"when": None, "trigger": "AllSucceeded", "final": False}
    assert shown["graph"] == [
        {"name": "a", "dependencies": [], **plain},
        {"name": "b", "dependencies": ["a"], **plain, "when": "true"},
        {"name": "z", "dependencies": [], **plain, "trigger": "AllDone", "final": True},
    ]
    assert (shown["workflow"], shown["phase"], shown["namespace"]) == ("w", "Pending", "ns")


def test_the_page_and_the_engine_refuse_the_same_outputs_with_the_same_words() -> None:
    """One measure of provided outputs: what the console lets through, the engine takes."""
    status = ExecutionStatus.model_validate(
        {
            "phase": "Failed",
            "workflow": {"tasks": [{"name": "b", "image": "i", "command": ["false"]}]},
            "params": {},
            "tasks": {"b": {"phase": "Failed", "attempts": 1}},
            "outputsLimit": 1_000_000,
        }
    )
    for size in (4000, 4090, 4100, 20_000):
        outputs = {"v": "x" * size}
        page = request_spec("x", {"mode": "ProvideOutputs", "task": "b", "outputs": outputs})
        engine = recover(status, Order("ProvideOutputs", task="b", outputs=outputs, by="a"), T0)
        if isinstance(page, str):
            assert isinstance(engine, Rejected) and engine.message == page
        else:
            assert not isinstance(engine, Rejected), engine


def test_the_preview_endpoint_answers_with_the_engines_preview_or_names_a_bad_mode() -> None:
    execution = {
        "metadata": {"name": "x", "namespace": "ns"},
        "status": {
            "phase": "Failed",
            "workflow": {"tasks": [{"name": "a", "image": "i", "command": ["true"]},
                                   {"name": "b", "image": "i", "command": ["true"],
                                    "dependencies": ["a"]}]},
            "params": {},
            "tasks": {"a": {"phase": "Failed", "attempts": 1}, "b": {"phase": "Pending"}},
        },
    }  # fmt: skip
    shown = preview_of(execution, "Flow", "a")
    assert isinstance(shown, dict)
    assert (shown["reruns"], shown["kept"], shown["problem"]) == (["a", "b"], [], None)
    refused = preview_of(execution, "Step", "b")
    assert isinstance(refused, dict) and "dependencies" in (refused["problem"] or "")
    assert preview_of(execution, "Delete", None) == "mode must be one of Flow, Step, ProvideOutputs"
    offered = detail(execution)["offers"]
    assert [o["action"] for o in offered[""]] == ["recover-workflow"]
    assert "retry-step" not in [o["action"] for o in offered.get("b", [])]


def test_the_schedules_view_gives_each_schedule_its_runs_newest_first() -> None:
    from headway.console.views import schedules_view

    schedule = {
        "metadata": {"name": "daily"},
        "spec": {"schedule": "0 6 * * *", "timeZone": "Europe/Paris", "suspend": True},
        "status": {"nextScheduleTime": None, "lastScheduleTime": "2026-12-02T05:00:00Z",
                   "active": ["daily-20261202-0500"],
                   "missed": [{"time": "2026-12-01T05:00:00Z", "reason": "MissedDeadline"}]},
    }  # fmt: skip

    def run(name: str, phase: str, label: str = "daily") -> dict[str, object]:
        return {"metadata": {"name": name, "labels": {"headway.dev/schedule": label}},
                "spec": {"workflowRef": {"name": "w"}}, "status": {"phase": phase}}  # fmt: skip

    executions = [run("daily-20261201-0500", "Succeeded"), run("daily-20261202-0500", "Running"),
                  run("other-20261201-0500", "Failed", "other")]  # fmt: skip
    [shown] = schedules_view([schedule], executions)
    assert [r["name"] for r in shown["runs"]] == ["daily-20261202-0500", "daily-20261201-0500"]
    assert (shown["suspend"], shown["timeZone"], shown["active"]) == (
        True, "Europe/Paris", ["daily-20261202-0500"],
    )  # fmt: skip
    assert shown["missed"][0]["reason"] == "MissedDeadline"
