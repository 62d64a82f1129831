"""The pure parts of ``kubectl headway``: durations, the task tree (a join under its first
parent), the recovery preview (the engine's own decision), and outputs given by hand."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from headway.cli import render
from headway.cli.main import USAGE, CliError, _order, _outputs, parser
from headway.core.preview import preview
from headway.core.recovery import Order
from headway.core.vocabulary import RECOVER_WARNING, STEP_WARNING
from headway.models.execution import ExecutionStatus

T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
JSON = dict[str, Any]


def diamond(phases: dict[str, str]) -> JSON:
    tasks = [
        {"name": "a"},
        {"name": "b", "dependencies": ["a"]},
        {"name": "c", "dependencies": ["a"]},
        {"name": "d", "dependencies": ["b", "c"]},
    ]
    status = {
        "phase": "Failed",
        "workflow": {"taskDefaults": {"image": "x", "command": ["true"]}, "tasks": tasks},
        "params": {},
        "tasks": {
            name: {"phase": phase, "attempts": 1, "startedAt": "2026-11-21T11:58:00Z",
                   "finishedAt": "2026-11-21T11:59:05Z"}
            for name, phase in phases.items()
        },
    }  # fmt: skip
    return {"metadata": {"name": "dia-1", "namespace": "ns"}, "spec": {}, "status": status}


def text_of(renderable: Any) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0, "0s"), (59.9, "59s"), (65, "1m05s"), (3720, "1h02m"), (-3, "0s")],
)
def test_durations(seconds: float | None, shown: str) -> None:
    assert render.duration(seconds) == shown


def test_tree_shows_a_join_once_under_its_first_parent() -> None:
    shown = text_of(render.task_tree(diamond(dict.fromkeys("abcd", "Succeeded")), T0))
    lines = [line for line in shown.splitlines() if "attempts" in line]
    names = [line.strip("│├└─ ").split()[0] for line in lines]
    assert names == ["a", "b", "d", "c"]
    assert "(join of b, c)" in lines[2]
    assert all("✔ Succeeded" in line and "1m05s" in line for line in lines)


def test_tree_before_the_start_says_so() -> None:
    execution = {"metadata": {"name": "x"}, "spec": {}, "status": {}}
    assert "not started" in text_of(render.task_tree(execution, T0))


def test_preview_is_the_engines_decision() -> None:
    status = ExecutionStatus.model_validate(
        diamond({"a": "Succeeded", "b": "Failed", "c": "Succeeded", "d": "Pending"})["status"]
    )
    flow = preview(status, Order("Flow"))
    assert (flow.reruns, flow.warning, flow.problem) == (["b", "d"], RECOVER_WARNING, None)
    assert flow.kept == ["a", "c"]
    step = preview(status, Order("Step", task="b"))
    assert (step.reruns, step.warning) == (["b"], STEP_WARNING)
    refused = preview(status, Order("Step", task="d"))
    assert refused.problem is not None and "dependencies" in refused.problem
    unknown = preview(status, Order("Flow", task="zz"))
    assert unknown.problem is not None and 'task "zz" does not exist' in unknown.problem


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{x", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ("@/nonexistent.json", "cannot read"),
    ],
)
def test_outputs_by_hand_are_checked(raw: str, problem: str) -> None:
    with pytest.raises(CliError) as caught:
        _outputs(raw)
    assert problem in str(caught.value) and caught.value.code == USAGE


def test_outputs_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "o.json"
    path.write_text('{"rows": 42}')
    assert _outputs(f"@{path}") == {"rows": 42}


def test_outputs_from_a_file_are_read_once_so_the_preview_is_what_is_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "o.json"
    path.write_text('{"rows": 42}')
    reads = []
    real = Path.read_text

    def counted(self: Path, *args: Any, **kwargs: Any) -> str:
        reads.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    args = parser().parse_args(["recover", "etl-1", "--provide-outputs", "a", f"@{path}"])
    order, outputs = _order(args)
    assert order.outputs == outputs == {"rows": 42}
    assert reads == [path]


def test_followed_logs_come_out_as_whole_lines() -> None:
    from headway.cli.main import _lines

    assert list(_lines(["a\nb", "c\n", "d"])) == ["a", "bc", "d"]
    assert list(_lines(["\n\n"])) == ["", ""]
