"""Conditions end to end: a ``when`` branch on and off, clean-up with AllDone and an
alert with AnyFailed after a failure, finally tasks after success, after failure and
again after a recovery, and provided outputs that flip a branch a Flow flips back — as
people drive them, against the chart-installed operator."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.chart_operator import ChartOperator
from support import (
    GATE_ENV,
    OUT,
    READER,
    WF,
    Cluster,
    annotate,
    create,
    define,
    execution,
    gate,
    grant,
    phases,
    request,
    run,
    run_workflow,
    wait_phase,
    wait_request,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]


def say(text: str) -> list[str]:
    """A command writing ``text`` (shell words expanded) as the task's outputs."""
    return ["sh", "-c", f'echo "{text}" > {OUT}']


def tasks_of(obj: JSON) -> dict[str, JSON]:
    return dict(obj["status"]["tasks"])


# check outputs {"go": <param go>}; deploy runs when go, note when not; the params are
# given through env, never pasted into the script.
BRANCH: JSON = {
    "params": [{"name": "go", "default": "true"}],
    "tasks": [
        {"name": "check", "command": say('{\\"go\\": $GO}'),
         "env": [{"name": "GO", "value": "{{ params.go }}"}]},
        {"name": "deploy", "dependencies": ["check"], "when": "tasks.check.outputs.go",
         "command": say("{}")},
        {"name": "note", "dependencies": ["check"], "when": "!tasks.check.outputs.go",
         "command": say("{}")},
        {"name": "after", "dependencies": ["deploy"], "command": say("{}")},
    ],
}  # fmt: skip


def test_a_when_branch_is_on_or_off_by_the_value_and_the_cli_says_why(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    define(cluster, namespace, "branch", BRANCH)
    run_workflow(cluster, namespace, "branch", "branch-off", go="false")
    on = wait_phase(cluster.kube, namespace, "branch-1", "Succeeded")
    assert phases(on) == {"check": "Succeeded", "deploy": "Succeeded", "note": "Skipped",
                          "after": "Succeeded"}  # fmt: skip
    off = wait_phase(cluster.kube, namespace, "branch-off", "Succeeded")
    assert phases(off) == {"check": "Succeeded", "deploy": "Skipped", "note": "Succeeded",
                           "after": "Skipped"}  # fmt: skip
    assert off["status"]["progress"] == "4/4"
    assert tasks_of(off)["deploy"]["reason"] == "WhenFalse"
    assert tasks_of(off)["after"]["reason"] == "TriggerNotMet"
    grant(cluster, namespace, "carol", *READER)
    shown = run(cluster, "carol", namespace, "get", "branch-off")
    assert shown.returncode == 0, shown.stderr
    assert "Skipped" in shown.stdout and "WhenFalse" in shown.stdout
    assert "tasks.check.outputs.go" in shown.stdout


AFTERMATH: JSON = {
    "tasks": [
        {"name": "work", "command": ["sh", "-c", f'test "$GATE" = open && echo {{}} > {OUT}'],
         "env": [GATE_ENV]},
        {"name": "publish", "dependencies": ["work"], "command": say("{}")},
        {"name": "clean", "dependencies": ["work"], "trigger": "AllDone", "command": say("{}")},
        {"name": "alert", "dependencies": ["work"], "trigger": "AnyFailed",
         "command": say("{}")},
    ],
    "finally": [
        {"name": "report", "command": say('{\\"phase\\": \\"$HEADWAY_EXECUTION_PHASE\\"}')},
    ],
}  # fmt: skip


def test_clean_up_alert_and_finally_after_a_failure_and_finally_again_after_recovery(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    define(cluster, namespace, "after", AFTERMATH)
    failed = wait_phase(cluster.kube, namespace, "after-1", "Failed")
    assert phases(failed) == {"work": "Failed", "publish": "Pending", "clean": "Succeeded",
                              "alert": "Succeeded", "report": "Succeeded"}  # fmt: skip
    assert tasks_of(failed)["report"]["outputs"] == {"phase": "Failed"}

    gate(cluster, namespace, "open")
    annotate(cluster.kube, namespace, "after-1", "fixed")
    done = wait_phase(cluster.kube, namespace, "after-1", "Succeeded")
    assert phases(done) == {"work": "Succeeded", "publish": "Succeeded", "clean": "Succeeded",
                            "alert": "Skipped", "report": "Succeeded"}  # fmt: skip
    report = tasks_of(done)["report"]
    assert report["attempts"] == 2 and report["outputs"] == {"phase": "Succeeded"}
    assert tasks_of(done)["clean"]["attempts"] == 2  # reran after the new work
    assert tasks_of(done)["alert"]["reason"] == "TriggerNotMet"


def test_finally_runs_once_after_success(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "open")
    define(cluster, namespace, "fine", AFTERMATH)
    done = wait_phase(cluster.kube, namespace, "fine-1", "Succeeded")
    assert tasks_of(done)["report"]["outputs"] == {"phase": "Succeeded"}
    assert tasks_of(done)["report"]["attempts"] == 1
    assert phases(done)["alert"] == "Skipped" and phases(done)["clean"] == "Succeeded"
    order = [h["task"] for h in done["status"]["history"] if h["event"] == "Started"]
    assert order[-1] == "report"  # after every other task


FLIP: JSON = {
    "tasks": [
        {"name": "check", "command": ["sh", "-c",
                                      f'test "$GATE" = open && echo {{\\"go\\": false}} > {OUT}'],
         "env": [GATE_ENV]},
        {"name": "deploy", "dependencies": ["check"], "when": "tasks.check.outputs.go",
         "command": say("{}")},
        {"name": "note", "dependencies": ["check"], "when": "!tasks.check.outputs.go",
         "command": say("{}")},
    ],
}  # fmt: skip


def test_provided_outputs_turn_a_branch_on_and_a_flow_turns_it_off(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    define(cluster, namespace, "flip", FLIP)
    wait_phase(cluster.kube, namespace, "flip-1", "Failed")
    request(cluster.kube, namespace, "give", "flip-1", mode="ProvideOutputs", task="check",
            outputs={"go": True})  # fmt: skip
    wait_request(cluster, namespace, "give", "Succeeded")
    on = wait_phase(cluster.kube, namespace, "flip-1", "Succeeded")
    assert phases(on) == {"check": "Succeeded", "deploy": "Succeeded", "note": "Skipped"}

    gate(cluster, namespace, "open")  # now check says go: false itself
    request(cluster.kube, namespace, "again", "flip-1", mode="Flow", task="check")
    wait_request(cluster, namespace, "again", "Succeeded")
    off = execution(cluster.kube, namespace, "flip-1")
    assert phases(off) == {"check": "Succeeded", "deploy": "Skipped", "note": "Succeeded"}
    assert tasks_of(off)["deploy"]["reason"] == "WhenFalse"
    assert tasks_of(off)["check"]["outputs"] == {"go": False}


def test_bad_conditions_are_refused_at_admission_naming_the_problem(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    from headway.shell.kube import KubeError

    bad = {"tasks": [{"name": "a", "command": say("{}")},
                     {"name": "b", "dependencies": ["a"], "when": "tasks.a.outputs.x >",
                      "command": say("{}")}]}  # fmt: skip
    with pytest.raises(KubeError) as refused:
        create(cluster.kube, namespace, {
            "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "bad"},
            "spec": {"taskDefaults": {"image": "python:3.12-slim"}, **bad},
        })  # fmt: skip
    assert 'task "b" when: syntax error at line 1, column 19' in refused.value.message
    hidden = {"tasks": [{"name": "a", "command": say("{}"), "when": "tasks.z.phase == 'x'"}]}
    with pytest.raises(KubeError) as refused:
        create(cluster.kube, namespace, {
            "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "hidden"},
            "spec": {"taskDefaults": {"image": "python:3.12-slim"}, **hidden},
        })  # fmt: skip
    assert "names z, not among the tasks it runs after" in refused.value.message
