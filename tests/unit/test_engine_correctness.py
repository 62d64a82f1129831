"""The engine-correctness defects, each pinned by a pure test (no cluster): stalls and the
retry budget, the idempotency key, refused and deferred Job creates, cleared fields, long
chains, the audit history, the status size bound, async handlers."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from handlers_source import kopf_handlers
from headway.core import dag, history
from headway.core.actions import CreateJob
from headway.core.context import Context
from headway.core.decide import RecoverAnnotation, View, decide
from headway.core.facts import ObservedJob, is_attempt, observe_jobs
from headway.core.history import MESSAGE_LIMIT
from headway.core.plan import Launches, plan
from headway.core.render import Owner
from headway.core.spec import (
    MIN_OUTPUTS_BYTES,
    OBJECT_LIMIT,
    TASK_STATUS_BYTES,
    workflow_problems,
)
from headway.core.start import start, workflow_status
from headway.models.execution import (
    AutoRecovery,
    ExecutionSpec,
    ExecutionStatus,
    HistoryEntry,
    TaskStatus,
)
from headway.models.workflow import WorkflowSpec, WorkflowStatus

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def workflow(tasks: list[JSON]) -> WorkflowSpec:
    for task in tasks:
        task.setdefault("command", ["true"])
    return WorkflowSpec.model_validate({"taskDefaults": {"image": "img"}, "tasks": tasks})


def context(tasks: list[JSON]) -> Context:
    return Context(OWNER, workflow(tasks), {}, AutoRecovery())


def started(ctx: Context) -> ExecutionStatus:
    spec = ExecutionSpec.model_validate({"workflow": ctx.workflow.wire()})
    return start(spec, ExecutionStatus(), None, T0)


def creates(jobs: list[Any]) -> list[CreateJob]:
    return [j for j in jobs if isinstance(j, CreateJob)]


def env_of(create: CreateJob) -> dict[str, str]:
    container = create.manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


# --- 7. a stall never spends the retry budget ----------------------------------------------


def test_a_stall_spends_no_retry_and_relaunches_at_once() -> None:
    ctx = context([{"name": "a", "retry": {"limit": 1, "backoffSeconds": 10}}])
    running = plan(ctx, started(ctx), {}, T0).status
    evicted = ObservedJob("exe-a-1", "a", 1, "Running", stalled="pod was evicted", confirmed=True)
    lost = {"exe-a-1": evicted}
    after_stall = plan(ctx, running, lost, at(1))
    a = after_stall.status.tasks["a"]
    assert (a.phase, a.attempts, a.auto_recoveries, a.failures) == ("Running", 2, 1, 0)
    assert [c.name for c in creates(after_stall.jobs)] == ["exe-a-2"]  # at once, no back-off
    failed = ObservedJob("exe-a-2", "a", 2, "Failed", exit_code=1, reason="NonZeroExit")
    first_failure = plan(ctx, after_stall.status, {"exe-a-2": failed}, at(2))
    a = first_failure.status.tasks["a"]
    # retry.limit 1: the first *failure* is retried, after the first back-off (10 s, not 20 s)
    assert (a.phase, a.failures, a.next_attempt_at) == ("Retrying", 1, at(12))


# --- 8. the idempotency key covers everything the task receives ----------------------------

CHAIN3: list[JSON] = [
    {"name": "a"},
    {"name": "b", "dependencies": ["a"]},
    {
        "name": "c",
        "dependencies": ["b"],
        "command": ["echo", "{{ tasks.a.outputs.n }}"],
    },
]


def key_and_command_of_c(a_outputs: JSON, b_outputs: JSON) -> tuple[str, list[str]]:
    ctx = context([dict(t) for t in CHAIN3])
    status = started(ctx)
    status.tasks["a"] = TaskStatus(phase="Succeeded", attempts=1, outputs=a_outputs)
    status.tasks["b"] = TaskStatus(phase="Succeeded", attempts=1, outputs=b_outputs)
    [create] = creates(plan(ctx, status, {}, T0).jobs)
    container = create.manifest["spec"]["template"]["spec"]["containers"][0]
    return env_of(create)["HEADWAY_IDEMPOTENCY_KEY"], container["command"]


def test_the_key_changes_with_a_referenced_grandparent_and_substitution_reaches_it() -> None:
    key, command = key_and_command_of_c({"n": 1}, {"m": 1})
    assert command == ["echo", "1"]  # a grandparent's output, substituted
    assert key_and_command_of_c({"n": 1}, {"m": 1})[0] == key  # stable
    assert key_and_command_of_c({"n": 2}, {"m": 1})[0] != key  # what c is given changed
    assert key_and_command_of_c({"n": 1}, {"m": 2})[0] != key  # its parent changed
    assert env_of(creates_for_c())["HEADWAY_INPUTS"] == '{"b": {"m": 1}}'  # inputs: parents


def creates_for_c() -> CreateJob:
    ctx = context([dict(t) for t in CHAIN3])
    status = started(ctx)
    status.tasks["a"] = TaskStatus(phase="Succeeded", attempts=1, outputs={"n": 1})
    status.tasks["b"] = TaskStatus(phase="Succeeded", attempts=1, outputs={"m": 1})
    [create] = creates(plan(ctx, status, {}, T0).jobs)
    return create


# --- 4. a Job the API server refuses; a transient error ------------------------------------


def test_a_refused_job_fails_the_task_with_the_api_servers_message_and_others_go_on() -> None:
    ctx = context([{"name": "bad"}, {"name": "good"}])
    status = started(ctx)
    refused = Launches(refused={"exe-bad-1": 'Job.batch "exe-bad-1" is invalid: nodeSelector'})
    result = plan(ctx, status, {}, T0, refused)
    bad = result.status.tasks["bad"]
    assert (bad.phase, bad.reason, bad.job) == ("Failed", "JobRejected", None)
    assert bad.message == 'Job.batch "exe-bad-1" is invalid: nodeSelector'
    assert [c.name for c in creates(result.jobs)] == ["exe-good-1"]
    assert result.status.phase == "Running"


def test_a_transient_create_error_leaves_the_task_waiting_and_wakes_soon() -> None:
    ctx = context([{"name": "a"}])
    status = started(ctx)
    result = plan(ctx, status, {}, T0, Launches(deferred={"exe-a-1": "503 unavailable"}))
    a = result.status.tasks["a"]
    assert (a.phase, a.attempts) == ("Pending", 0)
    assert result.status.phase == "Running"
    assert result.wake_at is not None and result.wake_at <= at(10)
    assert creates(result.jobs) == []


def test_a_job_created_in_this_pass_is_not_created_again_nor_taken_for_vanished() -> None:
    ctx = context([{"name": "a"}])
    running = plan(ctx, started(ctx), {}, T0).status
    again = plan(ctx, running, {}, T0, Launches(created=frozenset({"exe-a-1"})))
    assert creates(again.jobs) == []
    assert again.status.tasks["a"].phase == "Running"


# --- 1. cleared fields are cleared in the decision ----------------------------------------


def test_success_on_retry_clears_the_failure_fields() -> None:
    ctx = context([{"name": "a", "retry": {"limit": 1, "backoffSeconds": 0}}])
    running = plan(ctx, started(ctx), {}, T0).status
    failed = ObservedJob(
        "exe-a-1", "a", 1, "Failed", exit_code=1, reason="NonZeroExit", message="boom"
    )
    # backoffSeconds 0: the failure and the relaunch happen in the same pass
    relaunched = plan(ctx, running, {"exe-a-1": failed}, at(1)).status
    assert (relaunched.tasks["a"].attempts, relaunched.tasks["a"].reason) == (2, None)
    ok = ObservedJob("exe-a-2", "a", 2, "Succeeded", exit_code=0, termination_message="{}")
    done = plan(ctx, relaunched, {"exe-a-1": failed, "exe-a-2": ok}, at(3)).status
    wire = done.tasks["a"].wire()
    assert wire["phase"] == "Succeeded"
    assert "reason" not in wire and "message" not in wire and "nextAttemptAt" not in wire


def test_messages_are_clipped_and_a_task_status_fits_its_size_bound() -> None:
    huge = TaskStatus(
        phase="Retrying",
        attempts=100,
        job="x" * 63,
        outputs_source="Provided",
        idempotency_key="k" * 32,
        started_at=T0,
        finished_at=T0,
        exit_code=-2147483648,
        reason="OutputsBudgetExceeded",
        message="m" * MESSAGE_LIMIT,
        auto_recoveries=100,
        next_attempt_at=T0,
        failures=100,
        held=True,
    )
    assert len(json.dumps(huge.wire())) <= TASK_STATUS_BYTES


# --- 9. long chains; 11. the audit history; the size bound --------------------------------


def chain(length: int) -> WorkflowSpec:
    tasks: list[JSON] = [{"name": f"t{i}"} for i in range(length)]
    for i in range(1, length):
        tasks[i]["dependencies"] = [f"t{i - 1}"]
    tasks[-1]["command"] = ["echo", "{{ tasks.t0.outputs.n }}"]
    return workflow(tasks)


def test_a_1500_task_chain_is_valid_and_a_2000_task_one_is_refused_for_its_size() -> None:
    assert workflow_problems(chain(1500)) == []
    [problem] = workflow_problems(chain(2000))
    assert "too large" in problem and str(OBJECT_LIMIT) in problem


def test_a_cycle_through_thousands_of_tasks_is_named_without_recursion() -> None:
    names = [(f"t{i}", [f"t{(i + 1) % 3000}"]) for i in range(3000)]
    with pytest.raises(dag.DagError) as error:
        dag.build(names)
    assert error.value.problems[0].startswith("dependency cycle: ")


def test_task_events_never_push_a_recovery_out_of_the_history() -> None:
    entries: list[HistoryEntry] = []
    recovery = HistoryEntry(time=T0, event="Retriggered", task="a", by="alice")
    history.append(entries, recovery)
    for i in range(1000):
        history.append(entries, HistoryEntry(time=at(i), event="Started", task="a"))
    assert len(entries) == history.LIMIT
    assert entries[0] == recovery
    for i in range(300):
        history.append(entries, HistoryEntry(time=at(1000 + i), event="StepRetriggered", by="bob"))
    assert len(entries) == history.LIMIT
    assert sum(history.is_audit(e) for e in entries) == history.AUDIT_LIMIT
    assert [e.time for e in entries] == sorted(e.time for e in entries)


def test_outputs_past_the_executions_budget_fail_the_attempt() -> None:
    ctx = context([{"name": "a"}, {"name": "b"}])
    status = plan(ctx, started(ctx), {}, T0).status
    status.outputs_limit = 100
    big = json.dumps({"v": "x" * 80})
    observed = {
        "exe-a-1": ObservedJob("exe-a-1", "a", 1, "Succeeded", termination_message=big),
        "exe-b-1": ObservedJob("exe-b-1", "b", 1, "Succeeded", termination_message=big),
    }
    done = plan(ctx, status, observed, at(1)).status
    assert done.tasks["a"].phase == "Succeeded"
    assert (done.tasks["b"].phase, done.tasks["b"].reason) == ("Failed", "OutputsBudgetExceeded")
    assert MIN_OUTPUTS_BYTES <= OBJECT_LIMIT


# --- 6. outputs are never lost --------------------------------------------------------------


def test_a_complete_job_whose_pod_is_gone_is_a_stall_not_a_success() -> None:
    job = {
        "metadata": {"name": "exe-a-1", "labels": {"headway.dev/task": "a"}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    [observed] = observe_jobs([job], []).values()
    assert observed.outcome == "Running"
    assert observed.stalled is not None and "outputs" in observed.stalled


# --- decide: the one pure call --------------------------------------------------------------


def test_decide_starts_launches_and_asks_to_be_woken_when_not_started() -> None:
    spec = ExecutionSpec.model_validate({"workflowRef": {"name": "wf"}})
    missing = decide(View("exe", "ns", "uid-1", spec, ExecutionStatus()), T0)
    assert missing.status.conditions[0].reason == "WorkflowNotFound"
    assert missing.wake_at is not None and missing.jobs == []
    defined = workflow([{"name": "a"}])
    unchecked = decide(View("exe", "ns", "uid-1", spec, ExecutionStatus(), workflow=defined), T0)
    assert unchecked.status.conditions[0].reason == "DefinerNotChecked"
    assert 'Workflow "wf"' in (unchecked.status.conditions[0].message or "")
    assert unchecked.jobs == [] and unchecked.status.workflow is None
    found = decide(
        View("exe", "ns", "uid-1", spec, ExecutionStatus(), workflow=defined,
             workflow_definer="dana"),
        T0,
    )  # fmt: skip
    assert [c.name for c in creates(found.jobs)] == ["exe-a-1"]
    assert found.status.outputs_limit is not None
    [created] = [h for h in found.status.history if h.event == "Created"]
    assert created.by == "dana"


def test_decide_never_starts_an_inline_workflow_nobody_was_checked_to_define() -> None:
    spec = ExecutionSpec.model_validate({"workflow": workflow([{"name": "a"}]).wire()})
    unchecked = decide(View("exe", "ns", "uid-1", spec, ExecutionStatus()), T0)
    [ready] = unchecked.status.conditions
    assert (ready.status, ready.reason, unchecked.jobs) == ("False", "DefinerNotChecked", [])
    assert "inline workflow" in (ready.message or "")
    started = decide(View("exe", "ns", "uid-1", spec, ExecutionStatus(), definer="dana"), T0)
    assert [c.name for c in creates(started.jobs)] == ["exe-a-1"]


def test_decide_rejects_an_unverified_recover_annotation_and_consumes_it() -> None:
    ctx = context([{"name": "a"}])
    status = started(ctx)
    status.tasks["a"] = TaskStatus(phase="Failed", attempts=1)
    view = View(
        "exe",
        "ns",
        "uid-1",
        ExecutionSpec.model_validate({"workflow": ctx.workflow.wire()}),
        status,
        recover=RecoverAnnotation(token="1", by=None),
    )
    decision = decide(view, T0)
    assert decision.status.recovery.last_token == "1"
    assert decision.status.tasks["a"].phase == "Failed"
    [rejected] = [h for h in decision.status.history if h.event == "RecoveryRejected"]
    assert "admission webhook" in (rejected.message or "")


# --- 3. handlers are coroutines: the queue is only touched from the event loop ----------


def test_every_kopf_handler_is_async() -> None:
    handlers = kopf_handlers()
    assert len(handlers) >= 10, handlers
    assert [h.name for h in handlers if not h.is_async] == []


# --- 5. adoption only of our own attempt ----------------------------------------------------


def rendered() -> JSON:
    ctx = context([{"name": "a"}])
    [create] = creates(plan(ctx, started(ctx), {}, T0).jobs)
    return create.manifest


def with_meta(manifest: JSON, **changes: Any) -> JSON:
    meta = json.loads(json.dumps(manifest["metadata"]))
    for path, value in changes.items():
        section, _, key = path.partition("__")
        meta[section] = value if not key else {**meta[section], key.replace("_", "/"): value}
    return {**manifest, "metadata": meta}


@pytest.mark.parametrize(
    ("change", "adopted"),
    [
        ({}, True),
        ({"ownerReferences": []}, False),
        ({"ownerReferences": [{"uid": "someone-else", "controller": True}]}, False),
        ({"labels__headway.dev_task": "b"}, False),
        ({"labels__headway.dev_attempt": "2"}, False),
        ({"annotations__headway.dev_idempotency-key": "other"}, False),
    ],
)
def test_only_exactly_this_attempt_is_adopted(change: JSON, adopted: bool) -> None:
    manifest = rendered()
    assert is_attempt(with_meta(manifest, **change), manifest, OWNER.uid) is adopted


# --- a Workflow's status, decided in the core -----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ready", "message", "count"),
    [
        (workflow([{"name": "a"}]), "True", "the workflow is a valid DAG", 1),
        (
            workflow([{"name": "a", "dependencies": ["b"]}, {"name": "b", "dependencies": ["a"]}]),
            "False",
            "dependency cycle: a -> b -> a",
            2,
        ),
        ("tasks: Field required", "False", "tasks: Field required", None),
    ],
)
def test_workflow_status_names_every_problem(
    spec: WorkflowSpec | str, ready: str, message: str, count: int | None
) -> None:
    status = workflow_status(WorkflowStatus(), spec, 3, T0)
    [condition] = status.conditions
    assert (condition.status, condition.message, status.task_count) == (ready, message, count)
    assert status.observed_generation == 3
    again = workflow_status(status, spec, 3, at(60))
    assert again.conditions[0].last_transition_time == T0  # unchanged verdict, same time
