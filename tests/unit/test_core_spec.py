"""DAG, templates, spec validation, naming, outputs and Job rendering: pure, no cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from headway.core import dag, outputs, templates
from headway.core.naming import idempotency_key, job_name
from headway.core.render import Owner, render_job
from headway.core.spec import effective_tasks, resolve_params, workflow_problems
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]


def spec(tasks: list[JSON], **extra: Any) -> WorkflowSpec:
    for task in tasks:
        task.setdefault("command", ["true"])
    return WorkflowSpec.model_validate({"taskDefaults": {"image": "img"}, "tasks": tasks, **extra})


# --- dag --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "problem"),
    [
        ([("a", ["a"])], "dependency cycle: a -> a"),
        ([("a", ["b"]), ("b", ["a"])], "dependency cycle: a -> b -> a"),
        ([("a", ["c"]), ("b", ["a"]), ("c", ["b"])], "dependency cycle: a -> b -> c -> a"),
        (
            [("x", []), ("a", ["x", "c"]), ("b", ["a"]), ("c", ["b"])],
            "dependency cycle: a -> b -> c -> a",
        ),
        ([("a", ["ghost"])], 'task "a" depends on unknown task "ghost"'),
        ([("a", []), ("a", [])], 'duplicate task name "a"'),
    ],
)
def test_dag_names_the_problem(tasks: list[tuple[str, list[str]]], problem: str) -> None:
    with pytest.raises(dag.DagError) as error:
        dag.build(tasks)
    assert error.value.problems == [problem]


def test_dag_order_and_traversal() -> None:
    graph = dag.build([("join", ["l", "r"]), ("l", ["s"]), ("r", ["s"]), ("s", []), ("lone", [])])
    assert graph.order == ("s", "lone", "l", "r", "join")
    assert graph.ancestors("join") == {"l", "r", "s"}
    assert graph.descendants("s") == {"l", "r", "join"}
    assert graph.closure(["l"]) == {"l", "join"}
    assert graph.parents["join"] == ("l", "r")


# --- templates --------------------------------------------------------------------------


def test_references_are_parsed() -> None:
    text = "{{ params.day }} {{tasks.a-b.outputs.rows}} {{ what }}"
    assert templates.references(text) == [
        templates.ParamRef("day"),
        templates.OutputRef("a-b", "rows"),
        templates.BadRef("what"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("day={{ params.day }}", "day=2026-11-21"),
        ("{{ tasks.a.outputs.n }}", "42"),
        ("{{ tasks.a.outputs.obj }}", '{"k":[1,2]}'),
        ("{{ tasks.a.outputs.s }}", "text"),
        ("no references", "no references"),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    inputs = {"a": {"n": 42, "obj": {"k": [1, 2]}, "s": "text"}}
    assert templates.substitute(text, {"day": "2026-11-21"}, inputs) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ tasks.a.outputs.missing }}", 'task "a" has no output "missing"'),
        ("{{ tasks.z.outputs.x }}", 'outputs of task "z" are not available'),
        ("{{ params.none }}", 'parameter "none" has no value'),
        ("{{ 1 + 1 }}", 'unknown reference "{{ 1 + 1 }}"'),
    ],
)
def test_substitute_names_what_cannot_resolve(text: str, message: str) -> None:
    with pytest.raises(templates.TemplateError) as error:
        templates.substitute(text, {}, {"a": {}})
    assert str(error.value) == message


# --- spec -------------------------------------------------------------------------------


def test_defaults_merge_under_tasks() -> None:
    workflow = WorkflowSpec.model_validate(
        {
            "taskDefaults": {
                "image": "base",
                "retry": {"limit": 2, "backoffSeconds": 5},
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "podTemplate": {"nodeSelector": {"disk": "ssd"}, "tolerations": []},
            },
            "tasks": [
                {
                    "name": "t",
                    "command": ["x"],
                    "retry": {"limit": 3},
                    "env": [{"name": "B", "value": "3"}],
                    "podTemplate": {"nodeSelector": {"zone": "z"}},
                }
            ],
        }
    )
    task = effective_tasks(workflow)["t"]
    assert task.image == "base"
    assert task.retry is not None and (task.retry.limit, task.retry.backoff_seconds) == (3, 5)
    assert [(e.name, e.value) for e in task.env or []] == [("A", "1"), ("B", "3")]
    assert task.pod_template == {"nodeSelector": {"disk": "ssd", "zone": "z"}, "tolerations": []}


@pytest.mark.parametrize(
    ("tasks", "params", "problems"),
    [
        ([{"name": "a"}], [], []),
        ([{"name": "a", "args": ["{{ params.day }}"]}], [{"name": "day"}], []),
        (
            [{"name": "a", "args": ["{{ params.day }}"]}],
            [],
            ['task "a" uses undeclared parameter "day"'],
        ),
        (
            [{"name": "a", "env": [{"name": "X", "value": "{{ params.p }}"}]}],
            [],
            ['task "a" uses undeclared parameter "p"'],
        ),
        (
            [{"name": "a"}, {"name": "b", "command": ["echo", "{{ tasks.a.outputs.x }}"]}],
            [],
            [
                'task "b" refers to outputs of "a", which is not an ancestor of it '
                "(add it to dependencies, directly or transitively)"
            ],
        ),
        (
            [
                {"name": "a"},
                {"name": "b", "dependencies": ["a"]},
                {"name": "c", "dependencies": ["b"], "args": ["{{ tasks.a.outputs.x }}"]},
            ],
            [],
            [],
        ),
        (
            [{"name": "a", "args": ["{{ nope }}"]}],
            [],
            ['task "a" has an unknown reference "{{ nope }}"'],
        ),
        ([{"name": "a"}], [{"name": "p"}, {"name": "p"}], ['duplicate parameter "p"']),
    ],
)
def test_workflow_problems(tasks: list[JSON], params: list[JSON], problems: list[str]) -> None:
    assert workflow_problems(spec(tasks, params=params)) == problems


def test_a_task_without_an_image_is_a_problem() -> None:
    workflow = WorkflowSpec.model_validate({"tasks": [{"name": "a", "command": ["x"]}]})
    assert workflow_problems(workflow) == [
        'task "a" has no image (set it on the task or in taskDefaults)'
    ]


@pytest.mark.parametrize(
    ("given", "values", "problems"),
    [
        ({"day": "d"}, {"day": "d", "mode": "full"}, []),
        ({}, {"mode": "full"}, ['parameter "day" is required and has no default']),
        (
            {"day": "d", "dya": "x"},
            {"day": "d", "mode": "full"},
            ['unknown parameter "dya" (declared: day, mode)'],
        ),
        ({"day": "d", "mode": "delta"}, {"day": "d", "mode": "delta"}, []),
    ],
)
def test_resolve_params(given: dict[str, str], values: dict[str, str], problems: list[str]) -> None:
    workflow = spec([{"name": "a"}], params=[{"name": "day"}, {"name": "mode", "default": "full"}])
    assert resolve_params(workflow, given) == (values, problems)


# --- naming -----------------------------------------------------------------------------


def test_job_names_fit_63_characters_and_stay_distinct() -> None:
    assert job_name("etl", "extract", 1) == "etl-extract-1"
    long_execution = "e" * 70
    names = {job_name(long_execution, "task", attempt) for attempt in range(1, 20)}
    assert len(names) == 19
    for name in names:
        assert len(name) <= 63
        assert name[-1].isalnum()
    assert job_name(long_execution, "task", 3) == job_name(long_execution, "task", 3)


def test_idempotency_key_changes_only_with_its_inputs() -> None:
    key = idempotency_key("uid", "t", {"p": "1"}, {"a": {"x": 1}})
    assert key == idempotency_key("uid", "t", {"p": "1"}, {"a": {"x": 1}})
    assert (
        len(
            {
                key,
                idempotency_key("uid", "t", {"p": "2"}, {"a": {"x": 1}}),
                idempotency_key("uid", "t", {"p": "1"}, {"a": {"x": 2}}),
                idempotency_key("uid2", "t", {"p": "1"}, {"a": {"x": 1}}),
                idempotency_key("uid", "u", {"p": "1"}, {"a": {"x": 1}}),
            }
        )
        == 5
    )


# --- outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, {}),
        ("", {}),
        ('{"rows": 42}', {"rows": 42}),
        ('{"rows": 42}\n', {"rows": 42}),
        ("not json", "OutputsNotJSON"),
        ("[1, 2]", "OutputsNotObject"),
        ('"text"', "OutputsNotObject"),
        ('{"x": "' + "y" * 5000 + '"}', "OutputsTooLarge"),
        ('y"}' + "y" * 4093, "OutputsTooLarge"),  # what the kubelet keeps of a larger file
    ],
)
def test_outputs_parse(message: str | None, expected: JSON | str) -> None:
    parsed = outputs.parse(message)
    if isinstance(expected, str):
        assert isinstance(parsed, outputs.OutputsError)
        assert parsed.reason == expected
    else:
        assert parsed == expected


# --- render -----------------------------------------------------------------------------


def test_render_job() -> None:
    workflow = spec(
        [
            {
                "name": "t",
                "command": ["sh", "-c", "echo {{ params.day }}"],
                "args": ["{{ tasks.up.outputs.n }}"],
                "env": [
                    {"name": "N", "value": "{{ tasks.up.outputs.n }}"},
                    {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "timeoutSeconds": 60,
                "serviceAccountName": "runner",
                "workingDir": "/w",
                "resources": {"limits": {"cpu": "1"}},
                "podTemplate": {"nodeSelector": {"a": "b"}, "containers": [{"name": "ignored"}]},
                "dependencies": ["up"],
            },
            {"name": "up"},
        ],
        params=[{"name": "day"}],
    )
    task = effective_tasks(workflow)["t"]
    job = render_job(Owner("exe", "ns", "uid-1"), task, 2, {"day": "d"}, {"up": {"n": 5}}, "key-1")

    assert job["metadata"]["name"] == "exe-t-2"
    assert job["metadata"]["labels"] == {
        "headway.dev/execution": "exe",
        "headway.dev/execution-uid": "uid-1",
        "headway.dev/task": "t",
        "headway.dev/attempt": "2",
        "app.kubernetes.io/managed-by": "headway",
    }
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "headway.dev/v1alpha1",
            "kind": "Execution",
            "name": "exe",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 60
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "runner"
    assert pod["nodeSelector"] == {"a": "b"}
    [container] = pod["containers"]
    assert container["command"] == ["sh", "-c", "echo d"]
    assert container["args"] == ["5"]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["workingDir"] == "/w"
    assert container["resources"] == {"limits": {"cpu": "1"}}
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["HEADWAY_EXECUTION"] == "exe"
    assert env["HEADWAY_TASK"] == "t"
    assert env["HEADWAY_ATTEMPT"] == "2"
    assert env["HEADWAY_IDEMPOTENCY_KEY"] == "key-1"
    assert json.loads(env["HEADWAY_PARAMS"]) == {"day": "d"}
    assert json.loads(env["HEADWAY_INPUTS"]) == {"up": {"n": 5}}
    assert env["HEADWAY_OUTPUTS_FILE"] == "/dev/termination-log"
    assert env["N"] == "5"
    assert env["S"] == {"secretKeyRef": {"name": "s", "key": "k"}}
