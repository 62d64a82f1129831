"""The scheduling plan and the facts it reads: pure functions of their inputs."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

import pytest

from headway.core.actions import CreateJob, DeleteJob, Emit
from headway.core.context import Context
from headway.core.facts import AttemptRead, ObservedJob, confirm_attempt, observe_jobs
from headway.core.plan import backoff_seconds, plan
from headway.core.render import Owner
from headway.core.start import start
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus
from headway.models.workflow import RetryPolicy, WorkflowSpec

JSON = dict[str, Any]


def observe(job_obj: JSON, pods: list[JSON]) -> ObservedJob:
    """The facts of the one Job ``job_obj``, given every pod there is."""
    return next(iter(observe_jobs([job_obj], pods).values()))


T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def context(
    tasks: list[JSON], policy: str = "Continue", max_attempts: int = 5, stall: int = 300
) -> Context:
    for task in tasks:
        task.setdefault("command", ["true"])
    workflow = WorkflowSpec.model_validate(
        {"taskDefaults": {"image": "img"}, "failurePolicy": policy, "tasks": tasks}
    )
    return Context(
        OWNER, workflow, {}, AutoRecovery(max_attempts=max_attempts, stall_timeout_seconds=stall)
    )


def started(ctx: Context) -> ExecutionStatus:
    spec = ExecutionSpec.model_validate(
        {"workflow": ctx.workflow.model_dump(by_alias=True, exclude_none=True)}
    )
    return start(spec, ExecutionStatus(), None, T0)


def job(name: str, outcome: str = "Running", **facts: Any) -> ObservedJob:
    _execution, task, attempt = name.split("-", 2)
    return ObservedJob(name=name, task=task, attempt=int(attempt), outcome=outcome, **facts)  # type: ignore[arg-type]


def created(actions: list[Any]) -> list[str]:
    return [a.manifest["metadata"]["name"] for a in actions if isinstance(a, CreateJob)]


def phases(status: ExecutionStatus) -> dict[str, str]:
    return {name: task.phase for name, task in status.tasks.items()}


CHAIN: list[JSON] = [{"name": "a"}, {"name": "b", "dependencies": ["a"]}]


def test_first_plan_launches_the_roots() -> None:
    ctx = context([{"name": "a"}, {"name": "b"}, {"name": "c", "dependencies": ["a", "b"]}])
    result = plan(ctx, started(ctx), {}, T0)
    assert created([*result.jobs, *result.events]) == ["exe-a-1", "exe-b-1"]
    assert phases(result.status) == {"a": "Running", "b": "Running", "c": "Pending"}
    assert result.status.phase == "Running"
    assert result.status.progress == "0/3"
    assert result.status.tasks["a"].attempts == 1
    assert result.status.tasks["a"].job == "exe-a-1"


def test_a_job_created_before_a_crash_is_adopted_not_created_again() -> None:
    ctx = context(CHAIN)
    result = plan(ctx, started(ctx), {"exe-a-1": job("exe-a-1")}, T0)
    assert created([*result.jobs, *result.events]) == []
    assert result.status.tasks["a"].job == "exe-a-1"
    assert result.status.tasks["a"].phase == "Running"


def test_success_records_outputs_and_starts_successors_in_the_same_pass() -> None:
    ctx = context(CHAIN)
    running = plan(ctx, started(ctx), {}, T0).status
    done = job(
        "exe-a-1", "Succeeded", exit_code=0, termination_message='{"n": 1}', finished_at=at(5)
    )
    result = plan(ctx, running, {"exe-a-1": done}, at(6))
    a = result.status.tasks["a"]
    assert (a.phase, a.outputs, a.outputs_source, a.finished_at) == (
        "Succeeded",
        {"n": 1},
        "Job",
        at(5),
    )
    assert created([*result.jobs, *result.events]) == ["exe-b-1"]
    b_job = next(x for x in [*result.jobs, *result.events] if isinstance(x, CreateJob))
    env = {
        e["name"]: e.get("value")
        for e in b_job.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HEADWAY_INPUTS"] == '{"a": {"n": 1}}'
    assert result.status.progress == "1/2"


def test_failure_retries_after_backoff_then_fails() -> None:
    ctx = context([{"name": "a", "retry": {"limit": 2, "backoffSeconds": 10, "backoffFactor": 3}}])
    status = plan(ctx, started(ctx), {}, T0).status
    failed = {"exit_code": 1, "reason": "NonZeroExit", "message": "exited with code 1"}

    first = plan(
        ctx, status, {"exe-a-1": job("exe-a-1", "Failed", finished_at=at(1), **failed)}, at(2)
    )
    a = first.status.tasks["a"]
    assert (a.phase, a.next_attempt_at, a.exit_code) == ("Retrying", at(11), 1)
    assert first.wake_at == at(11)
    assert created([*first.jobs, *first.events]) == []
    assert first.status.phase == "Running"

    early = plan(ctx, first.status, {"exe-a-1": job("exe-a-1", "Failed", **failed)}, at(10))
    assert created([*early.jobs, *early.events]) == []

    second = plan(ctx, first.status, {"exe-a-1": job("exe-a-1", "Failed", **failed)}, at(11))
    assert created([*second.jobs, *second.events]) == ["exe-a-2"]
    assert second.status.tasks["a"].attempts == 2

    observed = {
        "exe-a-1": job("exe-a-1", "Failed", **failed),
        "exe-a-2": job("exe-a-2", "Failed", finished_at=at(20), **failed),
    }
    third = plan(ctx, second.status, observed, at(21))
    assert third.status.tasks["a"].next_attempt_at == at(50)  # 10 * 3

    observed["exe-a-3"] = job("exe-a-3", "Failed", finished_at=at(60), **failed)
    launched = plan(ctx, third.status, observed, at(50)).status
    final = plan(ctx, launched, observed, at(61))
    a = final.status.tasks["a"]
    assert (a.phase, a.attempts, a.reason) == ("Failed", 3, "NonZeroExit")
    assert final.status.phase == "Failed"
    assert final.status.finished_at == at(61)
    assert any(
        isinstance(x, Emit) and x.reason == "TaskFailed" for x in [*final.jobs, *final.events]
    )


@pytest.mark.parametrize(
    ("retry", "number", "delay"),
    [
        ({}, 1, 10),
        ({}, 2, 20),
        ({}, 6, 300),
        ({"backoffSeconds": 5, "backoffFactor": 2}, 3, 20),
        ({"backoffSeconds": 5, "maxBackoffSeconds": 7}, 2, 7),
        ({"backoffSeconds": 0}, 3, 0),
    ],
)
def test_backoff(retry: JSON, number: int, delay: float) -> None:
    assert backoff_seconds(RetryPolicy.model_validate(retry), number) == delay


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("Continue", {"bad": "Failed", "slow": "Succeeded", "later": "Succeeded"}),
        ("FailFast", {"bad": "Failed", "slow": "Succeeded", "later": "Pending"}),
    ],
)
def test_failure_policy(policy: str, expected: dict[str, str]) -> None:
    ctx = context(
        [{"name": "bad"}, {"name": "slow"}, {"name": "later", "dependencies": ["slow"]}], policy
    )
    status = plan(ctx, started(ctx), {}, T0).status
    observed = {
        "exe-bad-1": job("exe-bad-1", "Failed", exit_code=2),
        "exe-slow-1": job("exe-slow-1", "Succeeded"),
    }
    status = plan(ctx, status, observed, at(1)).status
    observed["exe-later-1"] = job("exe-later-1", "Succeeded")
    status = plan(ctx, status, observed, at(2)).status
    assert phases(status) == expected
    assert status.phase == "Failed"


def test_bad_outputs_fail_the_attempt_and_are_retried() -> None:
    ctx = context([{"name": "a", "retry": {"limit": 1}}])
    status = plan(ctx, started(ctx), {}, T0).status
    result = plan(
        ctx,
        status,
        {"exe-a-1": job("exe-a-1", "Succeeded", exit_code=0, termination_message="[1]")},
        at(1),
    )
    a = result.status.tasks["a"]
    assert (a.phase, a.reason, a.outputs) == ("Retrying", "OutputsNotObject", None)


def test_unresolvable_input_fails_without_launching_or_retrying() -> None:
    ctx = context(
        [
            {"name": "a", "retry": {"limit": 3}},
            {"name": "b", "dependencies": ["a"], "args": ["{{ tasks.a.outputs.missing }}"]},
        ]
    )
    status = plan(ctx, started(ctx), {}, T0).status
    result = plan(
        ctx, status, {"exe-a-1": job("exe-a-1", "Succeeded", termination_message="{}")}, at(1)
    )
    b = result.status.tasks["b"]
    assert (b.phase, b.reason, b.attempts) == ("Failed", "InvalidInput", 0)
    assert b.message == 'task "a" has no output "missing"'
    assert created([*result.jobs, *result.events]) == []


def gone(name: str) -> ObservedJob:
    """What a direct read shows of a Job that no longer exists."""
    return confirm_attempt(AttemptRead(name, None, [], "9", None), None)


def test_a_vanished_job_is_a_stall_only_once_a_direct_read_proves_it() -> None:
    ctx = context([{"name": "a"}])
    status = plan(ctx, started(ctx), {}, T0).status
    suspected = plan(ctx, status, {}, at(1))
    assert suspected.confirm == {"exe-a-1"}
    assert suspected.status.tasks["a"] == status.tasks["a"]
    assert created(suspected.jobs) == []
    result = plan(ctx, status, {"exe-a-1": gone("exe-a-1")}, at(1))
    a = result.status.tasks["a"]
    assert (a.phase, a.attempts, a.auto_recoveries) == ("Running", 2, 1)
    assert created([*result.jobs, *result.events]) == ["exe-a-2"]
    [stall] = [h for h in result.status.history if h.event == "AutoRecovered"]
    assert stall.message is not None
    assert "Job exe-a-1 is gone" in stall.message and "rv 9" in stall.message


def test_stalls_beyond_max_attempts_block_the_task() -> None:
    ctx = context([{"name": "a"}, {"name": "b", "dependencies": ["a"]}], max_attempts=1)
    status = plan(ctx, started(ctx), {}, T0).status
    evicted = job("exe-a-1", stalled="pod evicted", confirmed=True, evidence="read")
    status = plan(ctx, status, {"exe-a-1": evicted}, at(1)).status
    lost = job("exe-a-2", stalled="node lost", confirmed=True, evidence="read")
    result = plan(ctx, status, {"exe-a-2": lost}, at(2))
    a = result.status.tasks["a"]
    assert (a.phase, a.reason, a.auto_recoveries) == ("Blocked", "Stalled", 1)
    assert "node lost" in (a.message or "")
    assert DeleteJob("exe-a-2") in [*result.jobs, *result.events]
    assert result.status.phase == "Blocked"


def test_a_suspected_stall_from_the_caches_changes_nothing_but_asks_for_a_read() -> None:
    ctx = context([{"name": "a"}])
    status = plan(ctx, started(ctx), {}, T0).status
    result = plan(ctx, status, {"exe-a-1": job("exe-a-1", stalled="pod evicted")}, at(1))
    assert result.confirm == {"exe-a-1"}
    assert (result.status.tasks["a"], result.jobs) == (status.tasks["a"], [])


def test_a_direct_read_caught_mid_change_proves_nothing_and_looks_again_soon() -> None:
    ctx = context([{"name": "a"}])
    status = plan(ctx, started(ctx), {}, T0).status
    result = plan(ctx, status, {"exe-a-1": job("exe-a-1", recheck=True)}, at(1))
    assert (result.confirm, result.jobs, result.wake_at) == (frozenset(), [], at(3))
    assert result.status.tasks["a"] == status.tasks["a"]


def test_pending_too_long_is_a_stall_once_read_and_until_then_a_wake_up() -> None:
    ctx = context([{"name": "a"}], stall=60)
    status = plan(ctx, started(ctx), {}, T0).status
    pending = job("exe-a-1", pending_since=at(0), pending_reason="ImagePullBackOff")
    waiting = plan(ctx, status, {"exe-a-1": pending}, at(30))
    assert waiting.wake_at == at(60)
    assert waiting.status.tasks["a"].attempts == 1
    suspected = plan(ctx, status, {"exe-a-1": pending}, at(60))
    assert suspected.confirm == {"exe-a-1"}
    assert suspected.status.tasks["a"].attempts == 1
    read = replace(pending, confirmed=True, evidence="pod p rv 7")
    stalled = plan(ctx, status, {"exe-a-1": read}, at(60))
    assert stalled.status.tasks["a"].attempts == 2
    assert DeleteJob("exe-a-1") in [*stalled.jobs, *stalled.events]
    [stall] = [h for h in stalled.status.history if h.event == "AutoRecovered"]
    assert "ImagePullBackOff" in (stall.message or "") and "pod p rv 7" in (stall.message or "")


def test_planning_is_deterministic() -> None:
    ctx = context([{"name": "a"}, {"name": "b"}])
    status = started(ctx)
    assert plan(ctx, status, {}, T0) == plan(ctx, status, {}, T0)


def test_succeeded_execution_records_its_end_once() -> None:
    ctx = context([{"name": "a"}])
    status = plan(ctx, started(ctx), {}, T0).status
    observed = {"exe-a-1": job("exe-a-1", "Succeeded")}
    done = plan(ctx, status, observed, at(3))
    again = plan(ctx, done.status, observed, at(9))
    assert (done.status.phase, done.status.finished_at) == ("Succeeded", at(3))
    assert again.status == done.status
    assert [*again.jobs, *again.events] == []


# --- facts ------------------------------------------------------------------------------


def k8s_job(
    conditions: list[JSON] | None = None, active: int = 0, deadline: int | None = None
) -> JSON:
    return {
        "metadata": {
            "name": "exe-a-1",
            "creationTimestamp": "2026-11-21T12:00:00Z",
            "labels": {"headway.dev/task": "a", "headway.dev/attempt": "1"},
        },
        "spec": {"activeDeadlineSeconds": deadline} if deadline else {},
        "status": {"conditions": conditions or [], "active": active},
    }


def pod(phase: str, state: JSON, conditions: list[JSON] | None = None) -> JSON:
    return {
        "metadata": {
            "name": "exe-a-1-xyz",
            "creationTimestamp": "2026-11-21T12:00:01Z",
            "labels": {"job-name": "exe-a-1"},
        },
        "status": {
            "phase": phase,
            "conditions": conditions or [],
            "containerStatuses": [{"name": "main", "state": state}],
        },
    }


TERMINATED_OK = {
    "terminated": {
        "exitCode": 0,
        "message": '{"x": 1}',
        "startedAt": "2026-11-21T12:00:02Z",
        "finishedAt": "2026-11-21T12:00:04Z",
    }
}
COMPLETE = [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-21T12:00:05Z"}]


@pytest.mark.parametrize(
    ("job_obj", "pods", "expected"),
    [
        (
            k8s_job(COMPLETE),
            [pod("Succeeded", TERMINATED_OK)],
            {
                "outcome": "Succeeded",
                "exit_code": 0,
                "termination_message": '{"x": 1}',
                "finished_at": datetime.datetime(2026, 11, 21, 12, 0, 4, tzinfo=datetime.UTC),
            },
        ),
        (
            k8s_job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]),
            [pod("Failed", {"terminated": {"exitCode": 3, "message": "boom"}})],
            {
                "outcome": "Failed",
                "exit_code": 3,
                "reason": "NonZeroExit",
                "message": "exited with code 3: boom",
            },
        ),
        (
            k8s_job(
                [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}], deadline=5
            ),
            [],
            {
                "outcome": "Failed",
                "reason": "Timeout",
                "message": "the attempt ran longer than timeoutSeconds (5s)",
            },
        ),
        (
            k8s_job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]),
            [
                pod(
                    "Failed",
                    {
                        "terminated": {
                            "exitCode": 128,
                            "reason": "StartError",
                            "message": "no such file",
                        }
                    },
                )
            ],
            {"outcome": "Failed", "reason": "StartError", "message": "no such file"},
        ),
        (
            k8s_job(active=1),
            [pod("Pending", {"waiting": {"reason": "ImagePullBackOff", "message": "nope"}})],
            {
                "outcome": "Running",
                "pending_reason": "ImagePullBackOff: nope",
                "pending_since": datetime.datetime(2026, 11, 21, 12, 0, 1, tzinfo=datetime.UTC),
            },
        ),
        (
            k8s_job(active=1),
            [
                pod(
                    "Pending",
                    {"waiting": {"reason": "ContainerCreating"}},
                    [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/2 nodes",
                        }
                    ],
                )
            ],
            {"outcome": "Running", "pending_reason": "Unschedulable: 0/2 nodes"},
        ),
        (k8s_job(), [], {"outcome": "Running", "pending_reason": "no pod yet"}),
        (
            k8s_job(active=1),
            [pod("Running", {"running": {}})],
            {"outcome": "Running", "pending_since": None},
        ),
    ],
)
def test_observe_job(job_obj: JSON, pods: list[JSON], expected: JSON) -> None:
    observed = observe(job_obj, pods)
    assert (observed.name, observed.task, observed.attempt) == ("exe-a-1", "a", 1)
    for key, value in expected.items():
        assert getattr(observed, key) == value, key


# --- the attempt ends when its container does (not when the Job controller says so) ------


def deleting(p: JSON) -> JSON:
    return {**p, "metadata": {**p["metadata"], "deletionTimestamp": "2026-11-21T12:00:05Z"}}


@pytest.mark.parametrize(
    ("job_obj", "pods", "expected"),
    [
        # No Job condition yet: the container's exit decides.
        (k8s_job(active=1), [pod("Succeeded", TERMINATED_OK)], {"outcome": "Succeeded"}),
        (
            k8s_job(active=1),
            [pod("Failed", {"terminated": {"exitCode": 3, "message": "boom"}})],
            {"outcome": "Failed", "reason": "NonZeroExit", "exit_code": 3},
        ),
        # A pod going away may have been killed by the Job's deadline: wait for the verdict.
        (
            k8s_job(active=1),
            [deleting(pod("Failed", {"terminated": {"exitCode": 137}}))],
            {"outcome": "Running", "stalled": None},
        ),
        # The Job's verdict is never contradicted.
        (
            k8s_job(
                [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}], deadline=5
            ),
            [pod("Succeeded", TERMINATED_OK)],
            {"outcome": "Failed", "reason": "Timeout"},
        ),
    ],
)
def test_the_container_ending_ends_the_attempt(
    job_obj: JSON, pods: list[JSON], expected: JSON
) -> None:
    observed = observe(job_obj, pods)
    for key, value in expected.items():
        assert getattr(observed, key) == value, key
