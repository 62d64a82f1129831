"""Conditions in the pure core: trigger rules and the phase rule as tables, ``when``
evaluated by cel-python, finally tasks, admission's refusals (and, fed random CEL and
random specs, never an internal error), and what recoveries do to all of it."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.core import conditions
from headway.core.actions import CreateJob
from headway.core.context import Context
from headway.core.facts import ObservedJob
from headway.core.gates import execution_phase, phase_of
from headway.core.plan import plan
from headway.core.preview import preview
from headway.core.recovery import Order, Recovered, recover
from headway.core.render import Owner
from headway.core.spec import workflow_problems
from headway.core.start import start
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")

# --- the rules as tables -------------------------------------------------------------------

S, F, B, K, P, R = "Succeeded", "Failed", "Blocked", "Skipped", "Pending", "Running"
TRIGGERS = [
    # trigger, dependencies' phases, verdict
    ("AllSucceeded", [S, S], "start"),
    ("AllSucceeded", [S, R], "wait"),
    ("AllSucceeded", [S, F], "wait"),  # a recovery of the failed one may still let it run
    ("AllSucceeded", [S, K], "skip"),
    ("AllSucceeded", [K, F], "wait"),
    ("AllDone", [S, F], "start"),
    ("AllDone", [K, B], "start"),
    ("AllDone", [S, R], "wait"),
    ("AllDone", [P, F], "wait"),
    ("AnyFailed", [F, R], "start"),  # as soon as one failed
    ("AnyFailed", [B, S], "start"),
    ("AnyFailed", [S, K], "skip"),
    ("AnyFailed", [S, R], "wait"),
    ("NoneFailed", [S, K], "start"),
    ("NoneFailed", [K, K], "start"),
    ("NoneFailed", [S, F], "wait"),
    ("NoneFailed", [S, P], "wait"),
    ("AllSucceeded", [], "start"),
]


@pytest.mark.parametrize(("trigger", "phases", "verdict"), TRIGGERS)
def test_trigger_rules(trigger: Any, phases: list[str], verdict: str) -> None:
    found = conditions.gate(trigger, {f"d{i}": p for i, p in enumerate(phases)})
    assert found.verdict == verdict
    assert (found.message != "") == (verdict == "skip")


PHASES = [
    # tasks' phases, finally tasks' phases, the Execution's phase
    ([S, S], [], "Succeeded"),
    ([S, K], [], "Succeeded"),  # Skipped counts as done
    ([K, K], [S], "Succeeded"),
    ([S, R], [P], "Running"),  # finally waits for the tasks
    ([S, F], [P], "Failed"),  # (the planner starts it in the same pass)
    ([S, F], [R], "Running"),
    ([S, F], [S], "Failed"),
    ([S, S], [F], "Failed"),  # a failing finally task fails the Execution
    ([S, B], [S], "Blocked"),
    ([S, F], [B], "Failed"),
    ([S, S], [B], "Blocked"),
    ([S, P], [S], "Paused"),  # work remains that only a recovery starts
    ([S, S], [S, K], "Succeeded"),
]


@pytest.mark.parametrize(("tasks", "final", "phase"), PHASES)
def test_phase_rule(tasks: list[str], final: list[str], phase: str) -> None:
    from collections import Counter

    main = phase_of(Counter(tasks), len(tasks))
    last = phase_of(Counter(final), len(final)) if final else "Succeeded"
    if main == "Running":
        last = "Succeeded"  # finally tasks do not start before the tasks end
    assert execution_phase(main, last) == phase


# --- a small cluster to run workflows on ------------------------------------------------------


class Runner:
    """Plays the Job controller: every created Job ends at once, as ``ends`` says."""

    def __init__(self, ends: dict[str, tuple[str, JSON]]) -> None:
        self.ends = ends  # task -> ("Succeeded" | "Failed", outputs)
        self.jobs: dict[str, ObservedJob] = {}
        self.created: list[str] = []
        self.env: dict[str, dict[str, str]] = {}

    def run(self, ctx: Context, status: ExecutionStatus, passes: int = 12) -> ExecutionStatus:
        for _ in range(passes):
            result = plan(ctx, status, self.jobs, T0)
            status = result.status
            for action in result.jobs:
                if isinstance(action, CreateJob):
                    self.finish(action)
        return status

    def finish(self, action: CreateJob) -> None:
        name = action.manifest["metadata"]["name"]
        self.created.append(name)
        container = action.manifest["spec"]["template"]["spec"]["containers"][0]
        self.env[action.task] = {e["name"]: e.get("value", "") for e in container["env"]}
        outcome, outputs = self.ends.get(action.task, ("Succeeded", {}))
        self.jobs[name] = ObservedJob(
            name, action.task, action.attempt, outcome,  # type: ignore[arg-type]
            exit_code=0 if outcome == "Succeeded" else 1,
            termination_message=json.dumps(outputs) if outcome == "Succeeded" else None,
        )  # fmt: skip


def begin(spec: JSON, params: dict[str, str] | None = None) -> tuple[Context, ExecutionStatus]:
    wf = WorkflowSpec.model_validate({"taskDefaults": {"image": "img", "command": ["t"]}, **spec})
    assert workflow_problems(wf) == []
    given = ExecutionSpec.model_validate({"workflow": wf.wire(), "params": params or {}})
    status = start(given, ExecutionStatus(), None, T0)
    return Context(OWNER, wf, status.params or {}, AutoRecovery()), status


def phases(status: ExecutionStatus) -> dict[str, str]:
    return {name: state.phase for name, state in status.tasks.items()}


BRANCH: JSON = {
    "params": [{"name": "mode", "default": "full"}],
    "tasks": [
        {"name": "check"},
        {"name": "deploy", "dependencies": ["check"], "when": "tasks.check.outputs.go == true"},
        {"name": "note", "dependencies": ["check"], "when": "!tasks.check.outputs.go"},
        {"name": "after", "dependencies": ["deploy"]},
        {"name": "tidy", "dependencies": ["deploy", "note"], "trigger": "NoneFailed"},
        {"name": "full", "dependencies": ["check"], "when": 'params.mode == "full"'},
    ],
}


def test_a_when_turns_a_branch_on_or_off_and_skips_what_needs_it() -> None:
    ctx, status = begin(BRANCH)
    done = Runner({"check": ("Succeeded", {"go": False})}).run(ctx, status)
    assert phases(done) == {
        "check": S, "deploy": K, "note": S, "after": K, "tidy": S, "full": S,
    }  # fmt: skip
    assert done.phase == "Succeeded" and done.progress == "6/6"
    assert done.tasks["deploy"].reason == "WhenFalse"
    assert "tasks.check.outputs.go == true" in (done.tasks["deploy"].message or "")
    assert done.tasks["after"].reason == "TriggerNotMet"
    ctx, status = begin(BRANCH, {"mode": "quick"})
    done = Runner({"check": ("Succeeded", {"go": True})}).run(ctx, status)
    assert (phases(done)["deploy"], phases(done)["note"], phases(done)["full"]) == (S, K, K)


def test_a_when_that_cannot_be_evaluated_fails_the_task_saying_why() -> None:
    ctx, status = begin(BRANCH)
    done = Runner({"check": ("Succeeded", {})}).run(ctx, status)  # no "go" at all
    deploy = done.tasks["deploy"]
    assert (deploy.phase, deploy.reason) == ("Failed", "WhenError")
    assert "no such member" in (deploy.message or "") and "go" in (deploy.message or "")
    assert done.phase == "Failed"


CLEANUP: JSON = {
    "tasks": [
        {"name": "work"},
        {"name": "more", "dependencies": ["work"]},
        {"name": "clean", "dependencies": ["work"], "trigger": "AllDone"},
        {"name": "alert", "dependencies": ["work"], "trigger": "AnyFailed"},
    ],
    "finally": [
        {"name": "report"},
        {"name": "archive", "dependencies": ["report"]},
    ],
}


def test_after_a_failure_clean_up_and_alert_run_then_finally_with_the_phase() -> None:
    ctx, status = begin(CLEANUP)
    runner = Runner({"work": ("Failed", {})})
    done = runner.run(ctx, status)
    assert phases(done) == {
        "work": F, "more": P, "clean": S, "alert": S, "report": S, "archive": S,
    }  # fmt: skip
    assert done.phase == "Failed"
    assert runner.env["report"]["HEADWAY_EXECUTION_PHASE"] == "Failed"
    assert "HEADWAY_EXECUTION_PHASE" not in runner.env["clean"]
    assert runner.created.index("exe-report-1") > runner.created.index("exe-alert-1")


def test_after_success_the_alert_is_skipped_and_finally_runs_once() -> None:
    ctx, status = begin(CLEANUP)
    runner = Runner({})
    done = runner.run(ctx, status)
    assert phases(done)["alert"] == K and phases(done)["clean"] == S
    assert done.phase == "Succeeded"
    assert runner.env["archive"]["HEADWAY_EXECUTION_PHASE"] == "Succeeded"
    assert runner.created.count("exe-report-1") == 1 and "exe-report-2" not in runner.created


def test_a_failing_finally_task_fails_the_execution() -> None:
    ctx, status = begin(CLEANUP)
    done = Runner({"report": ("Failed", {})}).run(ctx, status)
    assert phases(done)["report"] == F and phases(done)["archive"] == P
    assert done.phase == "Failed"


def test_a_flow_reruns_what_failed_and_its_successors_then_finally_again() -> None:
    ctx, status = begin(CLEANUP)
    runner = Runner({"work": ("Failed", {})})
    failed = runner.run(ctx, status)
    shown = preview(failed, Order("Flow"))
    assert shown.final == ["report", "archive"]
    assert set(shown.conditional) == {"clean", "alert"}  # they may run or be Skipped
    recovered = recover(failed, Order("Flow", by="alice"), T0)
    assert isinstance(recovered, Recovered)
    assert phases(recovered.status)["report"] == P and phases(recovered.status)["alert"] == P
    runner.ends.clear()
    done = runner.run(ctx, recovered.status)
    assert done.phase == "Succeeded"
    assert phases(done) == {
        "work": S, "more": S, "clean": S, "alert": K, "report": S, "archive": S,
    }  # fmt: skip
    assert {"exe-work-2", "exe-clean-2", "exe-report-2", "exe-archive-2"} <= set(runner.created)
    assert runner.env["report"]["HEADWAY_EXECUTION_PHASE"] == "Succeeded"


def test_provided_outputs_flip_a_when_and_a_flow_flips_it_back() -> None:
    ctx, status = begin(BRANCH)
    runner = Runner({"check": ("Failed", {})})
    failed = runner.run(ctx, status)
    assert phases(failed)["deploy"] == P and failed.phase == "Failed"
    given = recover(failed, Order("ProvideOutputs", task="check", outputs={"go": True}, by="a"), T0)
    assert isinstance(given, Recovered)
    on = runner.run(ctx, given.status)
    assert (phases(on)["deploy"], phases(on)["note"], phases(on)["after"]) == (S, K, S)
    assert on.phase == "Succeeded"
    runner.ends["check"] = ("Succeeded", {"go": False})
    again = recover(on, Order("Flow", task="check", by="a"), T0)
    assert isinstance(again, Recovered)
    off = runner.run(ctx, again.status)
    assert (phases(off)["deploy"], phases(off)["note"], phases(off)["after"]) == (K, S, K)
    assert off.phase == "Succeeded" and "exe-note-1" in runner.created


def test_under_fail_fast_clean_up_and_alerts_still_run() -> None:
    ctx, status = begin({**CLEANUP, "failurePolicy": "FailFast"})
    done = Runner({"work": ("Failed", {})}).run(ctx, status)
    assert (phases(done)["clean"], phases(done)["alert"], phases(done)["report"]) == (S, S, S)
    assert phases(done)["more"] == P


def test_a_map_task_can_be_skipped_and_a_condition_sees_its_list() -> None:
    ctx, status = begin(
        {
            "tasks": [
                {"name": "m", "map": {"items": [1, 2, 3]}},
                {"name": "big", "dependencies": ["m"], "when": "size(tasks.m.outputs) > 5"},
                {"name": "small", "dependencies": ["m"],
                 "when": "tasks.m.outputs.all(o, o.ok == true)"},
            ]
        }
    )  # fmt: skip
    runner = Runner({"m": ("Succeeded", {"ok": True})})
    done = runner.run(ctx, status)
    assert (phases(done)["big"], phases(done)["small"]) == (K, S)


# --- admission ----------------------------------------------------------------------------------


def problems(spec: JSON) -> list[str]:
    return workflow_problems(
        WorkflowSpec.model_validate({"taskDefaults": {"image": "i", "command": ["t"]}, **spec})
    )


def test_admission_refuses_bad_conditions_and_finally_dependencies_naming_them() -> None:
    found = problems({"tasks": [{"name": "a"}, {"name": "b", "dependencies": ["a"],
                                                "when": "tasks.a.outputs.n >"}]})  # fmt: skip
    assert found == ['task "b" when: syntax error at line 1, column 19: tasks.a.outputs.n >']
    found = problems({"tasks": [{"name": "a"}, {"name": "b", "when": "tasks.a.phase == 'x'"}]})
    assert found and "names a, not among the tasks it runs after" in found[0]
    found = problems({"tasks": [{"name": "a", "when": "params.nope == '1'"}]})
    assert found and "names params nope" in found[0]
    found = problems({"tasks": [{"name": "a", "dependencies": ["z"]}], "finally": [{"name": "z"}]})
    assert any('depends on finally task "z"' in p for p in found)
    found = problems({"tasks": [{"name": "a"}], "finally": [{"name": "z", "dependencies": ["a"]}]})
    assert any("not a finally task" in p for p in found)
    assert problems({"tasks": [{"name": "a"}], "finally": [{"name": "a"}]})  # a name twice
    # A finally task sees every task, and may use their outputs.
    assert problems({"tasks": [{"name": "a"}], "finally": [{"name": "z",
                     "when": "tasks.a.phase == 'Failed'",
                     "args": ["{{ tasks.a.outputs.k }}"]}]}) == []  # fmt: skip


CEL_PIECES = st.sampled_from(
    ["tasks", "params", ".", "a", "outputs", "phase", "(", ")", "[", "]", "'a'", '"', "==",
     "&&", "||", "!", "1", "2.5", "true", "null", "size", ",", "in", "?", ":", "+", "-", " ",
     "has", "all", "x", "{", "}", "\\", "\n", "b'", "0x", "u", "r'", "'''", "/", "%"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(CEL_PIECES, max_size=25).map("".join) | st.text(max_size=60))
def test_random_conditions_are_refused_with_a_message_or_admitted(text: str) -> None:
    if not text:
        return
    spec = {"tasks": [{"name": "a"}, {"name": "b", "dependencies": ["a"], "when": text}]}
    found = problems(spec)
    assert all(isinstance(p, str) and p.startswith('task "b" when: ') for p in found)
    if not found:  # admitted: it evaluates, or fails with a reason (never an exception)
        try:
            conditions.evaluate(text, {}, {"a": {"outputs": {"a": 1}, "phase": "Succeeded"}})
        except conditions.ConditionError as error:
            assert str(error)


TRIGGER_NAMES = st.sampled_from(["AllSucceeded", "AllDone", "AnyFailed", "NoneFailed"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.lists(st.sampled_from(["a", "b", "c", "d", "z"]), max_size=3),
            TRIGGER_NAMES,
            st.sampled_from([None, "true", "tasks.a.phase == 'Failed'", "tasks.z.outputs.k",
                             "params.p", "1 +", ""]),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)  # fmt: skip
def test_random_specs_are_refused_with_a_message_or_admitted(rows: list[Any]) -> None:
    tasks: list[JSON] = []
    final: list[JSON] = []
    for name, deps, trigger, when, is_final in rows:
        task: JSON = {"name": name, "dependencies": deps, "trigger": trigger}
        if when is not None:
            task["when"] = when
        (final if is_final else tasks).append(task)
    try:
        spec = WorkflowSpec.model_validate(
            {"taskDefaults": {"image": "i", "command": ["t"]}, "tasks": tasks, "finally": final}
        )
    except ValueError:
        return  # refused by the schema, with pydantic's message (an empty list, a bad when)
    found = workflow_problems(spec)
    assert all(isinstance(p, str) and p for p in found)


def test_a_recovery_whose_tasks_end_skipped_by_their_conditions_succeeded() -> None:
    from headway.core.recovery import outcome

    ctx, status = begin(BRANCH)
    runner = Runner({"check": ("Succeeded", {"go": True})})
    on = runner.run(ctx, status)
    runner.ends["check"] = ("Succeeded", {"go": False})
    again = recover(on, Order("Flow", task="check", by="a"), T0)
    assert isinstance(again, Recovered)
    off = runner.run(ctx, again.status)
    assert phases(off)["deploy"] == K
    assert outcome(off, "Flow", again.tasks) == "Succeeded"


def test_a_reference_to_a_skipped_tasks_outputs_fails_saying_it_was_skipped() -> None:
    ctx, status = begin(
        {
            "tasks": [
                {"name": "maybe", "when": "false"},
                {"name": "uses", "dependencies": ["maybe"], "trigger": "NoneFailed",
                 "args": ["{{ tasks.maybe.outputs.k }}"]},
                {"name": "reads", "dependencies": ["maybe"], "trigger": "NoneFailed"},
            ]
        }
    )  # fmt: skip
    runner = Runner({})
    done = runner.run(ctx, status)
    uses = done.tasks["uses"]
    assert (uses.phase, uses.reason) == ("Failed", "InvalidInput")
    assert "task maybe was Skipped and has no outputs" in (uses.message or "")
    assert phases(done)["reads"] == S  # its inputs file holds {} for the Skipped task
    assert json.loads(runner.env["reads"]["HEADWAY_INPUTS"]) == {"maybe": {}}
