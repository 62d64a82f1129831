"""Property-based tests over hostile specs: every input is admitted or refused with a
message naming the field, never an internal Python error; and the engine never crashes
on any valid workflow, whatever its Jobs report."""

from __future__ import annotations

import datetime
import re
import string
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headway.core.actions import CreateJob
from headway.core.admission import execution_verdict, request_verdict, workflow_verdict
from headway.core.decide import Decision, RecoverAnnotation, View, decide
from headway.core.facts import ObservedJob
from headway.core.recovery import Order
from headway.core.requests import Request
from headway.models.execution import ExecutionSpec, ExecutionStatus
from headway.models.recovery import RecoveryMode

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
# What a user must never see: Python's own words for its own failures.
INTERNAL = re.compile(
    r"Traceback|object has no attribute|KeyError|IndexError|TypeError|NoneType|"
    r"recursion|unhashable|not subscriptable|object is not iterable|AssertionError"
)
# A refusal starts with the field's path (``tasks.0.name: ...``) or names its subject.
FIELDS = re.compile(
    r'^(?P<part>"([^"\\]|\\.)*"|[\w-]+)(\.("([^"\\]|\\.)*"|[\w-]+))*: |'
    r'^task "|^duplicate |^dependency cycle: |'
    r'^unknown parameter "|^parameter "|^the workflow is too large'
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(["a", "b", "c", "extract", "load"]),
    st.text(alphabet=string.ascii_lowercase + "-_.A9", min_size=0, max_size=70),
)
templates = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            "{{ params.date }}",
            "{{ params.nope }}",
            "{{ tasks.a.outputs.n }}",
            "{{ tasks.z.outputs.n }}",
            "{{ tasks.a.outputs }}",
            "{{ }}",
            "{{ __import__('os') }}",
            "{{",
        ]
    ),
)
tasks = st.fixed_dictionaries(
    {"name": names},
    optional={
        "dependencies": st.one_of(st.lists(names, max_size=3), json_values),
        "command": st.one_of(st.lists(templates, max_size=3), json_values),
        "args": st.lists(templates, max_size=2),
        "env": st.one_of(
            st.lists(st.fixed_dictionaries({"name": names, "value": templates}), max_size=2),
            json_values,
        ),
        "retry": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "limit": st.integers(-5, 500),
                    "backoffSeconds": st.one_of(st.floats(allow_nan=False), st.text(max_size=3)),
                    "backoffFactor": st.floats(allow_nan=False),
                },
            ),
            json_values,
        ),
        "timeoutSeconds": st.one_of(st.integers(-3, 10**12), st.text(max_size=3)),
        "image": st.one_of(st.text(max_size=10), json_values),
        "podTemplate": json_values,
        "unknownField": json_values,
    },
)
workflow_specs = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"tasks": st.one_of(st.lists(tasks, max_size=6), json_values)},
        optional={
            "params": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"name": st.one_of(st.sampled_from(["date", "n"]), names)},
                        optional={"default": st.one_of(st.text(max_size=4), json_values)},
                    ),
                    max_size=3,
                ),
                json_values,
            ),
            "taskDefaults": st.one_of(
                st.fixed_dictionaries({"image": st.text(max_size=6)}), json_values
            ),
            "failurePolicy": st.one_of(st.sampled_from(["Continue", "FailFast", "x"]), scalars),
        },
    ),
)


def assert_clear(problems: list[str]) -> None:
    for problem in problems:
        assert problem.strip(), "an empty refusal says nothing"
        assert not INTERNAL.search(problem), problem
        assert FIELDS.search(problem), f"names no field: {problem}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow_specs)
def test_any_workflow_is_admitted_or_refused_clearly(spec: Any) -> None:
    assert_clear(workflow_verdict(spec))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "workflowRef": st.one_of(st.fixed_dictionaries({"name": names}), json_values),
                "workflow": workflow_specs,
                "params": st.one_of(st.dictionaries(names, st.text(max_size=4)), json_values),
                "autoRecovery": json_values,
            },
        ),
    )
)
def test_any_execution_is_admitted_or_refused_clearly(spec: Any) -> None:
    assert_clear(execution_verdict(spec))


@settings(max_examples=120, deadline=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"executionRef": st.one_of(st.fixed_dictionaries({"name": names}), json_values)},
            optional={
                "mode": st.one_of(st.sampled_from(["Flow", "Step", "ProvideOutputs"]), scalars),
                "task": st.one_of(names, json_values),
                "outputs": json_values,
                "updateExecutionPhase": json_values,
                "items": st.one_of(st.lists(st.integers(-3, 20_000), max_size=4), json_values),
            },
        ),
    )
)
def test_any_recovery_request_is_admitted_or_refused_clearly(spec: Any) -> None:
    assert_clear(request_verdict(spec))


def test_request_items_need_their_map_task_and_item_numbers() -> None:
    ref = {"executionRef": {"name": "e"}}
    assert request_verdict({**ref, "items": [3]}) == [
        "items: name the map task they belong to (task)"
    ]
    [negative] = request_verdict({**ref, "task": "m", "items": [-1]})
    assert negative.startswith("items.0:") and "greater than or equal to 0" in negative
    [empty] = request_verdict({**ref, "task": "m", "items": []})
    assert empty.startswith("items:") and "at least 1" in empty


# --- the engine on any valid workflow -------------------------------------------------------


@st.composite
def valid_dags(draw: st.DrawFn) -> JSON:
    count = draw(st.integers(1, 7))
    tasks: list[JSON] = []
    for i in range(count):
        parents = draw(st.lists(st.integers(0, max(0, i - 1)), max_size=2)) if i else []
        task: JSON = {"name": f"t{i}", "dependencies": sorted({f"t{p}" for p in parents})}
        if task["dependencies"] and draw(st.booleans()):
            task["command"] = ["echo", f"{{{{ tasks.{task['dependencies'][0]}.outputs.k }}}}"]
        task["retry"] = {"limit": draw(st.integers(0, 2)), "backoffSeconds": 0}
        tasks.append(task)
    return {
        "taskDefaults": {"image": "img", "command": ["true"]},
        "failurePolicy": draw(st.sampled_from(["Continue", "FailFast"])),
        "tasks": tasks,
    }


outcomes = st.sampled_from(["Running", "Succeeded", "Failed", "stall", "gone", "bad-outputs"])


def decide_as_the_shell(view: View, now: datetime.datetime) -> Decision:
    """``decide``, and when it asks for direct reads of suspected stalls, decide again with
    what such a read shows (here: what the test's cluster holds, nothing behind)."""
    decision = decide(view, now)
    if not decision.confirm:
        return decision
    confirmed = {
        name: replace(view.jobs[name], confirmed=True, evidence="read")
        if name in view.jobs
        else ObservedJob(name, "", 0, "Running", stalled="gone", confirmed=True)
        for name in decision.confirm
    }
    return decide(replace(view, confirmed=confirmed), now)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_dags(), st.lists(st.tuples(outcomes, st.integers(0, 6)), max_size=25), st.data())
def test_the_engine_never_crashes_and_always_finishes(
    workflow: JSON, events: list[tuple[str, int]], data: st.DataObject
) -> None:
    spec = ExecutionSpec.model_validate(
        {"workflow": workflow, "autoRecovery": {"maxAttempts": 2, "stallTimeoutSeconds": 5}}
    )
    status = ExecutionStatus()
    jobs: dict[str, ObservedJob] = {}
    now = T0
    for step, (outcome, index) in enumerate(events):
        now += datetime.timedelta(seconds=1)
        requests = []
        if data.draw(st.integers(0, 9)) == 0:
            mode: RecoveryMode = data.draw(st.sampled_from(["Flow", "Step", "ProvideOutputs"]))
            target = data.draw(st.one_of(st.none(), st.sampled_from(list(status.tasks) or ["t0"])))
            order = Order(mode, task=target, outputs={"k": 1}, by="alice", request=f"r{step}")
            requests.append(Request(f"r{step}", f"u{step}", order, None))
        view = View(
            "e",
            "ns",
            "uid",
            spec,
            status,
            jobs=jobs,
            requests=requests,
            recover=RecoverAnnotation(str(step) if step % 7 == 6 else None, "bob"),
            definer="dana",
        )
        decision = decide_as_the_shell(view, now)
        status = decision.status
        ExecutionStatus.model_validate(status.wire())  # what is written reads back
        for create in [j for j in decision.jobs if isinstance(j, CreateJob)]:
            jobs[create.name] = ObservedJob(create.name, create.task, create.attempt, "Running")
        running = [t for t in status.tasks.values() if t.phase == "Running" and t.job in jobs]
        if running:
            job = jobs[running[index % len(running)].job or ""]
            jobs[job.name] = {
                "Running": job,
                "Succeeded": ObservedJob(
                    job.name, job.task, job.attempt, "Succeeded", termination_message='{"k": 1}'
                ),
                "Failed": ObservedJob(job.name, job.task, job.attempt, "Failed", exit_code=1),
                "stall": ObservedJob(job.name, job.task, job.attempt, "Running", stalled="lost"),
                "gone": job,
                "bad-outputs": ObservedJob(
                    job.name, job.task, job.attempt, "Succeeded", termination_message="[1]"
                ),
            }[outcome]
            if outcome == "gone":
                del jobs[job.name]
    # Then every Job succeeds: the run comes to rest without an unexplained halt.
    for _ in range(60):
        now += datetime.timedelta(seconds=1)
        decision = decide_as_the_shell(
            View("e", "ns", "uid", spec, status, jobs=jobs, definer="dana"), now
        )
        status = decision.status
        for create in [j for j in decision.jobs if isinstance(j, CreateJob)]:
            jobs[create.name] = ObservedJob(create.name, create.task, create.attempt, "Running")
        for job in list(jobs.values()):
            if job.outcome == "Running":
                jobs[job.name] = ObservedJob(
                    job.name, job.task, job.attempt, "Succeeded", termination_message='{"k": 1}'
                )
        if status.phase not in ("Running", "Pending", None):
            break
    assert status.phase in ("Succeeded", "Failed", "Blocked", "Paused")
    for name, task in status.tasks.items():
        if task.phase in ("Failed", "Blocked"):
            assert task.reason and task.message, f"{name} {task.phase} without a reason"
