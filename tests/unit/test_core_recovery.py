"""Recovery planning and RecoveryRequest sequencing: pure, table-driven."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from headway.core.actions import CreateJob
from headway.core.context import Context
from headway.core.facts import ObservedJob, observe_jobs
from headway.core.plan import plan
from headway.core.recovery import Order, Recovered, Rejected, outcome, recover, recover_by_token
from headway.core.render import Owner
from headway.core.requests import Request, apply_requests, complete_records, mirror
from headway.models.execution import ExecutionStatus, TaskPhase, TaskStatus
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]


def observe(job_obj: JSON, pods: list[JSON]) -> ObservedJob:
    """The facts of the one Job ``job_obj``, given every pod there is."""
    return next(iter(observe_jobs([job_obj], pods).values()))


T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
# a -> b -> c, plus x independent
WORKFLOW = WorkflowSpec.model_validate(
    {
        "taskDefaults": {"image": "img", "command": ["true"]},
        "tasks": [
            {"name": "a"},
            {"name": "b", "dependencies": ["a"]},
            {"name": "c", "dependencies": ["b"]},
            {"name": "x"},
        ],
    }
)


def status(phase: str = "Failed", **tasks: TaskPhase) -> ExecutionStatus:
    states = {"a": "Succeeded", "b": "Failed", "c": "Pending", "x": "Succeeded", **tasks}
    return ExecutionStatus(
        phase=phase,  # type: ignore[arg-type]
        workflow=WORKFLOW,
        params={},
        tasks={
            name: TaskStatus(
                phase=p,
                attempts=0 if p == "Pending" else 2,
                job=None if p == "Pending" else f"e-{name}-2",
                outputs={"n": 1} if p == "Succeeded" else None,
            )
            for name, p in states.items()
        },
    )


def order(mode: Any, **fields: Any) -> Order:
    """An order from an identified user (the webhook's signature checked out)."""
    return Order(mode, **{"by": "alice", **fields})


def phases(s: ExecutionStatus) -> dict[str, str]:
    return {n: t.phase for n, t in s.tasks.items()}


@pytest.mark.parametrize(
    ("order", "tasks", "expected_phases", "reset"),
    [
        (
            order("Flow"),
            {},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Succeeded"},
            ["b", "c"],
        ),
        (
            order("Flow", task="b"),
            {},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Succeeded"},
            ["b", "c"],
        ),
        (
            order("Flow", task="a"),
            {},
            {"a": "Pending", "b": "Pending", "c": "Pending", "x": "Succeeded"},
            ["a", "b", "c"],
        ),
        (
            order("Flow"),
            {"b": "Blocked"},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Succeeded"},
            ["b", "c"],
        ),
        (
            order("Flow"),
            {"x": "Failed"},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Pending"},
            ["b", "c", "x"],
        ),
        (
            order("Flow", task="b"),
            {"x": "Running"},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Running"},
            ["b", "c"],
        ),
        (
            order("Step", task="b"),
            {},
            {"a": "Succeeded", "b": "Pending", "c": "Pending", "x": "Succeeded"},
            ["b"],
        ),
        (
            order("Step", task="a"),
            {},
            {"a": "Pending", "b": "Failed", "c": "Pending", "x": "Succeeded"},
            ["a"],
        ),
        (
            order("ProvideOutputs", task="b", outputs={"n": 9}),
            {},
            {"a": "Succeeded", "b": "Succeeded", "c": "Pending", "x": "Succeeded"},
            ["b"],
        ),
        (
            order("ProvideOutputs", task="b", outputs={}),
            {"b": "Blocked"},
            {"a": "Succeeded", "b": "Succeeded", "c": "Pending", "x": "Succeeded"},
            ["b"],
        ),
    ],
)
def test_recover_resets_exactly_the_targets_and_their_scope(
    order: Order, tasks: dict[str, TaskPhase], expected_phases: dict[str, str], reset: list[str]
) -> None:
    before = status(**tasks)
    result = recover(before, order, T0)
    assert isinstance(result, Recovered), result
    assert phases(result.status) == expected_phases
    assert result.tasks == reset
    for name in ("a", "b", "c", "x"):
        if name not in reset:  # kept tasks keep outputs, attempts and Jobs
            assert result.status.tasks[name] == before.tasks[name] or name in ("c",)
    for name in reset:
        state = result.status.tasks[name]
        if order.mode != "ProvideOutputs":
            assert state.attempts == before.tasks[name].attempts  # new Jobs get new names
            assert state.failures == 0
            assert state.outputs is None and state.auto_recoveries == 0


def test_flow_records_who_and_how_in_history_and_an_event() -> None:
    result = recover(
        status(), order("Flow", task="b", by="alice", request="fix-1", request_uid="u1"), T0
    )
    assert isinstance(result, Recovered)
    entry = result.status.history[-1]
    assert (entry.event, entry.task, entry.by, entry.request) == (
        "Retriggered",
        "b",
        "alice",
        "fix-1",
    )
    assert "reset: b, c" in (entry.message or "")
    assert result.event.reason == "Recovery"
    assert "by alice via request fix-1" in result.event.message
    [record] = result.status.recovery.requests
    assert (record.uid, record.name, record.tasks, record.by) == (
        "u1",
        "fix-1",
        ["b", "c"],
        "alice",
    )
    assert record.completed_at is None


def test_step_holds_successors_and_freezes_the_phase_unless_asked() -> None:
    frozen = recover(status(), order("Step", task="b"), T0)
    assert isinstance(frozen, Recovered)
    assert frozen.status.tasks["c"].held is True
    assert frozen.status.recovery.frozen == {"b": "Failed"}
    updating = recover(status(), order("Step", task="b", update_execution_phase=True), T0)
    assert isinstance(updating, Recovered)
    assert updating.status.recovery.frozen is None


def test_provide_outputs_marks_the_source_and_releases_holds() -> None:
    held = recover(status(), order("Step", task="b"), T0)
    assert isinstance(held, Recovered)
    failed_again = held.status.model_copy(deep=True)
    failed_again.tasks["b"].phase = "Failed"
    result = recover(
        failed_again, order("ProvideOutputs", task="b", outputs={"n": 9}, by="bob"), T0
    )
    assert isinstance(result, Recovered)
    b = result.status.tasks["b"]
    assert (b.outputs, b.outputs_source, b.reason) == ({"n": 9}, "Provided", "OutputsProvided")
    assert result.status.tasks["c"].held is None
    assert result.status.recovery.frozen is None


@pytest.mark.parametrize(
    ("order", "tasks", "message"),
    [
        (
            order("Flow", task="nope"),
            {},
            'task "nope" does not exist in this execution (tasks: a, b, c, x)',
        ),
        (
            order("Flow"),
            {"b": "Succeeded", "c": "Succeeded"},
            "no Failed, Blocked, Stopped or held task to recover",
        ),
        (order("Flow", task="b"), {"b": "Running"}, "task b still running: wait for it to finish"),
        (order("Flow", task="a"), {"b": "Retrying"}, "task b still running: wait for it to finish"),
        (order("Step", task="b"), {"b": "Running"}, "task b still running: wait for it to finish"),
        (order("Step"), {}, "Step needs a task"),
        (order("ProvideOutputs", outputs={}), {}, "ProvideOutputs needs a task"),
        (
            order("ProvideOutputs", task="a", outputs={}),
            {},
            'task "a" is Succeeded: ProvideOutputs applies only to a Failed, Blocked or '
            "Stopped task",
        ),
        (
            order("ProvideOutputs", task="b", outputs={}),
            {"b": "Running"},
            'task "b" is Running: ProvideOutputs applies only to a Failed, Blocked or Stopped task',
        ),
        (
            order("ProvideOutputs", task="c", outputs={}),
            {},
            'task "c" is Pending: ProvideOutputs applies only to a Failed, Blocked or Stopped task',
        ),
        (order("ProvideOutputs", task="b"), {}, "ProvideOutputs needs outputs (a JSON object)"),
        (order("ProvideOutputs", task="b", outputs={"x": "y" * 5000}), {}, "more than 4096"),
    ],
)
def test_rejections_name_the_reason_and_change_nothing(
    order: Order, tasks: dict[str, TaskPhase], message: str
) -> None:
    before = status(**tasks)
    snapshot = before.model_copy(deep=True)
    result = recover(before, order, T0)
    assert isinstance(result, Rejected)
    assert message in result.message
    assert before == snapshot


def test_an_execution_that_never_started_cannot_be_recovered() -> None:
    result = recover(ExecutionStatus(), order("Flow"), T0)
    assert result == Rejected("the execution has not started (see its Ready condition)")


def test_annotation_token_is_remembered() -> None:
    result = recover(status(), order("Flow", token="t-1"), T0)
    assert isinstance(result, Recovered)
    assert result.status.recovery.last_token == "t-1"


@pytest.mark.parametrize(
    ("mode", "tasks", "execution_phase", "expected"),
    [
        ("Flow", {"b": "Running"}, "Running", None),
        ("Flow", {"b": "Succeeded", "c": "Running"}, "Running", None),
        ("Flow", {"b": "Succeeded", "c": "Succeeded"}, "Succeeded", "Succeeded"),
        ("Flow", {"b": "Failed"}, "Failed", "Failed"),
        ("Step", {"b": "Running"}, "Failed", None),
        ("Step", {"b": "Succeeded"}, "Failed", "Succeeded"),
        ("Step", {"b": "Blocked"}, "Failed", "Failed"),
        ("ProvideOutputs", {"b": "Succeeded"}, "Running", "Succeeded"),
    ],
)
def test_outcome(
    mode: Any, tasks: dict[str, TaskPhase], execution_phase: str, expected: str | None
) -> None:
    scope = ["b", "c"] if mode == "Flow" else ["b"]
    assert outcome(status(execution_phase, **tasks), mode, scope) == expected


# --- requests ---------------------------------------------------------------------------


def request(name: str, phase: Any = None, **fields: Any) -> Request:
    mode = fields.pop("mode")
    return Request(
        name, f"uid-{name}", order(mode, request=name, request_uid=f"uid-{name}", **fields), phase
    )


def test_requests_apply_one_at_a_time_in_order_and_the_next_waits_pending() -> None:
    requests = [request("r1", mode="Flow", task="b"), request("r2", mode="Flow")]
    first = apply_requests(status(), requests, T0)
    mirrored = mirror(first.status, requests, first.updates)
    assert mirrored["r1"].phase == "Applied"
    assert mirrored["r1"].tasks == ("b", "c")
    assert mirrored["r2"].phase == "Pending"
    waiting = apply_requests(
        first.status, [request("r1", "Applied", mode="Flow", task="b"), requests[1]], T0
    )
    assert waiting.updates["r2"].phase == "Pending"
    assert waiting.status == first.status


def test_rejected_requests_do_not_hold_up_the_next() -> None:
    requests = [request("bad", mode="Flow", task="nope"), request("good", mode="Flow")]
    result = apply_requests(status(), requests, T0)
    assert result.updates["bad"].phase == "Rejected"
    assert 'task "nope" does not exist' in result.updates["bad"].message
    assert mirror(result.status, requests, result.updates)["good"].phase == "Applied"
    assert [e.reason for e in result.events] == ["RecoveryRejected", "Recovery"]


def test_a_request_applied_before_a_crash_is_not_applied_again() -> None:
    once = apply_requests(status(), [request("r1", mode="Flow")], T0)
    # The crash: the Execution's status was written, the request's was not.
    again = apply_requests(once.status, [request("r1", mode="Flow")], T0)
    assert again.status == once.status
    assert again.events == []
    mirrored = mirror(again.status, [request("r1", mode="Flow")], again.updates)
    assert (mirrored["r1"].phase, mirrored["r1"].tasks) == ("Applied", ("b", "c"))
    retriggered = [h for h in again.status.history if h.event == "Retriggered"]
    assert len(retriggered) == 1


def test_an_unverified_requester_is_rejected_and_changes_nothing() -> None:
    anonymous = Request("r1", "uid-r1", Order("Flow", request="r1", request_uid="uid-r1"), None)
    result = apply_requests(status(), [anonymous], T0)
    assert result.updates["r1"].phase == "Rejected"
    assert "admission webhook" in result.updates["r1"].message
    assert result.status == status()


def test_completion_is_read_from_the_execution_record_even_when_the_request_lost_its_tasks() -> (
    None
):
    # As in a reconcile: apply, plan, then look for completion.
    context = Context(Owner("e", "ns", "uid"), WORKFLOW, {})
    requests = [request("r1", mode="Flow", task="b")]
    applied = apply_requests(status(), requests, T0)
    planned = complete_records(plan(context, applied.status, {}, T0).status, T0)
    assert mirror(planned, requests, applied.updates)["r1"].phase == "Applied"
    # The crash window: the request still shows nothing (no phase, no tasks), while the
    # rerun of b failed. The record in the Execution says what was rerun.
    done = planned.model_copy(deep=True)
    done.tasks["b"].phase, done.tasks["c"].phase, done.phase = "Failed", "Pending", "Failed"
    finished = mirror(complete_records(done, T0), [request("r1", mode="Flow", task="b")], {})
    assert (finished["r1"].phase, finished["r1"].applied_at) == ("Failed", T0)
    assert finished["r1"].tasks == ("b", "c")
    assert finished["r1"].message == "recovery failed: b Failed, c Pending"


# --- recovery and the plan together ------------------------------------------------------


def test_after_a_flow_recovery_the_plan_starts_new_attempts_with_a_fresh_retry_budget() -> None:
    context = Context(Owner("e", "ns", "uid"), WORKFLOW, {})
    result = recover(status(), order("Flow", task="b"), T0)
    assert isinstance(result, Recovered)
    planned = plan(context, result.status, {}, T0)
    assert [
        a.manifest["metadata"]["name"]
        for a in [*planned.jobs, *planned.events]
        if isinstance(a, CreateJob)
    ] == ["e-b-3"]
    assert planned.status.phase == "Running"
    assert planned.status.finished_at is None


def test_after_a_step_recovery_successors_wait_and_the_phase_stays() -> None:
    context = Context(Owner("e", "ns", "uid"), WORKFLOW, {})
    result = recover(status(), order("Step", task="b"), T0)
    assert isinstance(result, Recovered)
    running = plan(context, result.status, {}, T0).status
    assert running.phase == "Failed"  # frozen
    done = plan(context, running, {"e-b-3": ObservedJob("e-b-3", "b", 3, "Succeeded")}, T0)
    assert phases(done.status)["c"] == "Pending"
    assert not [a for a in [*done.jobs, *done.events] if isinstance(a, CreateJob)]
    assert done.status.phase == "Failed"


def test_step_with_update_execution_phase_recomputes_it() -> None:
    context = Context(Owner("e", "ns", "uid"), WORKFLOW, {})
    result = recover(status(), order("Step", task="b", update_execution_phase=True), T0)
    assert isinstance(result, Recovered)
    running = plan(context, result.status, {}, T0).status
    done = plan(context, running, {"e-b-3": ObservedJob("e-b-3", "b", 3, "Succeeded")}, T0)
    assert done.status.phase == "Paused"  # c waits for a recovery to start it


@pytest.mark.parametrize(
    ("token", "last", "handled"),
    [(None, None, False), ("t1", "t1", False), ("t2", "t1", True), ("t1", None, True)],
)
def test_recover_token_is_handled_once(token: str | None, last: str | None, handled: bool) -> None:
    before = status()
    before.recovery.last_token = last
    after, events = recover_by_token(before, token, "alice", T0)
    assert (after != before) == handled
    if handled:
        assert after.recovery.last_token == token
        assert [e.reason for e in events] == ["Recovery"]


def test_a_rejected_token_is_still_recorded_as_handled() -> None:
    done = status("Succeeded", b="Succeeded", c="Succeeded")
    after, events = recover_by_token(done, "t1", "alice", T0)
    assert after.recovery.last_token == "t1"
    assert phases(after) == phases(done)
    assert after.history[-1].event == "RecoveryRejected"
    assert [e.reason for e in events] == ["RecoveryRejected"]


def test_a_request_whose_spec_did_not_parse_is_rejected_once_in_its_turn() -> None:
    broken = Request("bad", "uid-bad", order("Flow"), None, problem="invalid spec: field required")
    result = apply_requests(status(), [broken, request("good", mode="Flow")], T0)
    assert (result.updates["bad"].phase, result.updates["bad"].message) == (
        "Rejected",
        "invalid spec: field required",
    )
    assert mirror(result.status, [broken], result.updates)["bad"].phase == "Rejected"
    assert [r.name for r in result.status.recovery.requests] == ["good"]
    done = Request(
        "bad", "uid-bad", order("Flow"), "Rejected", problem="invalid spec: field required"
    )
    assert apply_requests(status(), [done], T0).updates == {}
