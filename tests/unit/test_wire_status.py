"""The status a pass writes: exactly the new status as JSON, with every task the pass
left untouched taken as it was read (the same object, so the difference skips it)."""

from __future__ import annotations

from typing import Any

from headway.models.execution import ExecutionStatus, TaskStatus
from headway.runtime.memory import wire_status


def read(raw: dict[str, Any]) -> ExecutionStatus:
    return ExecutionStatus.model_validate(raw)


RAW: dict[str, Any] = {
    "phase": "Running",
    "tasks": {
        "a": {"phase": "Succeeded", "attempts": 1, "outputs": {"n": 1}},
        "b": {"phase": "Running", "attempts": 2, "job": "x-b-2", "reason": "old"},
    },
}


def test_untouched_tasks_are_the_objects_read_and_changed_ones_are_new() -> None:
    old = read(RAW)
    new = old.model_copy()
    new.tasks = dict(old.tasks)
    new.tasks["b"] = TaskStatus(phase="Succeeded", attempts=2, job="x-b-2")
    out = wire_status(new, old, RAW)
    assert out["tasks"]["a"] is RAW["tasks"]["a"]
    assert out["tasks"]["b"] == new.tasks["b"].wire()
    assert "reason" not in out["tasks"]["b"]  # cleared, not kept
    assert out == {**new.wire(), "tasks": out["tasks"]}
    assert read(out).wire() == new.wire()


def test_a_task_added_or_gone_is_written_as_the_new_status_says() -> None:
    old = read(RAW)
    new = old.model_copy()
    new.tasks = {"a": old.tasks["a"], "c": TaskStatus()}
    out = wire_status(new, old, RAW)
    assert sorted(out["tasks"]) == ["a", "c"]
    assert out["tasks"]["a"] is RAW["tasks"]["a"]
    assert read(out).wire() == new.wire()
