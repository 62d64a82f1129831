"""Suspend and stop in the pure core: what starts, what is deleted, the phases, finally
tasks under a stop, recovery of a stopped run (refused while stopping), maps, and a
pass that finds a stop half done (the operator restarted)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from headway.core.actions import CreateJob, DeleteJob
from headway.core.context import Context
from headway.core.facts import ObservedJob
from headway.core.plan import plan
from headway.core.recovery import STOPPING, Order, Recovered, Rejected, recover
from headway.core.render import Owner
from headway.core.start import start
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus
from headway.models.workflow import WorkflowSpec

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")


class Cluster:
    """Jobs start Running; ``finish`` ends the named ones, as the Job controller would."""

    def __init__(self) -> None:
        self.jobs: dict[str, ObservedJob] = {}
        self.deleted: list[str] = []
        self.env: dict[str, dict[str, str]] = {}

    def step(self, ctx: Context, status: ExecutionStatus) -> ExecutionStatus:
        result = plan(ctx, status, self.jobs, T0)
        for action in result.jobs:
            if isinstance(action, CreateJob):
                name = action.manifest["metadata"]["name"]
                container = action.manifest["spec"]["template"]["spec"]["containers"][0]
                self.env[action.task] = {e["name"]: e.get("value", "") for e in container["env"]}
                label = action.manifest["metadata"]["labels"].get("headway.dev/item")
                item = int(label) if label is not None else None
                self.jobs[name] = ObservedJob(name, action.task, action.attempt, "Running",
                                              item=item)  # fmt: skip
            elif isinstance(action, DeleteJob):
                self.deleted.append(action.name)
                self.jobs.pop(action.name, None)
        return result.status

    def finish(self, *names: str) -> None:
        for name in names:
            job = self.jobs[name]
            self.jobs[name] = dataclasses.replace(
                job, outcome="Succeeded", exit_code=0, termination_message=json.dumps({})
            )

    def finish_all(self) -> None:
        self.finish(*[n for n, j in self.jobs.items() if j.outcome == "Running"])

    def settle(self, ctx: Context, status: ExecutionStatus, rounds: int = 8) -> ExecutionStatus:
        for _ in range(rounds):
            status = self.step(ctx, status)
            self.finish_all()
        return self.step(ctx, status)


SPEC: JSON = {
    "taskDefaults": {"image": "img", "command": ["t"]},
    "tasks": [
        {"name": "a"},
        {"name": "b"},
        {"name": "c", "dependencies": ["a"]},
    ],
    "finally": [{"name": "z"}],
}


def begin(spec: JSON = SPEC) -> tuple[Context, ExecutionStatus]:
    wf = WorkflowSpec.model_validate(spec)
    status = start(ExecutionSpec.model_validate({"workflow": wf.wire()}), ExecutionStatus(),
                   None, T0)  # fmt: skip
    return Context(OWNER, wf, {}, AutoRecovery()), status


def held(ctx: Context, hold: Any) -> Context:
    return dataclasses.replace(ctx, hold=hold)


def phases(status: ExecutionStatus) -> dict[str, str]:
    return {name: state.phase for name, state in status.tasks.items()}


def test_suspend_starts_nothing_new_and_resume_goes_on_where_it_was() -> None:
    ctx, status = begin()
    cluster = Cluster()
    status = cluster.step(ctx, status)
    assert phases(status)["a"] == "Running"
    suspended = held(ctx, "suspend")
    status = cluster.step(suspended, status)
    assert status.phase == "Suspended"
    cluster.finish("exe-a-1", "exe-b-1")  # running Jobs finish
    for _ in range(3):
        status = cluster.step(suspended, status)
    assert phases(status) == {"a": "Succeeded", "b": "Succeeded", "c": "Pending", "z": "Pending"}
    assert status.phase == "Suspended" and "exe-c-1" not in cluster.jobs
    done = cluster.settle(ctx, status)  # spec.suspend back to false
    assert done.phase == "Succeeded" and phases(done)["c"] == "Succeeded"


def test_stop_deletes_running_jobs_runs_finally_and_ends_stopped_never_failed() -> None:
    ctx, status = begin()
    cluster = Cluster()
    status = cluster.step(ctx, status)
    stopping = held(ctx, "stop")
    status = cluster.step(stopping, status)
    assert sorted(cluster.deleted) == ["exe-a-1", "exe-b-1"]
    assert phases(status)["a"] == "Stopped" and phases(status)["c"] == "Pending"
    assert status.stopped_at == T0
    assert status.tasks["a"].failures == 0 and status.tasks["a"].auto_recoveries == 0
    assert cluster.env["z"]["HEADWAY_EXECUTION_PHASE"] == "Stopped"
    cluster.finish("exe-z-1")
    status = cluster.step(stopping, status)
    assert status.phase == "Stopped" and phases(status)["z"] == "Succeeded"
    assert [h.event for h in status.history if h.task is None][-1] == "Stopped"
    # Recovering while spec.stop is true is refused, saying so, and changes nothing.
    refused = recover(status, Order("Flow", by="alice"), T0, stopping=True)
    assert isinstance(refused, Rejected) and refused.message == STOPPING
    # spec.stop back to false starts nothing by itself: the run is Stopped until recovered.
    status = cluster.step(ctx, status)
    assert status.phase == "Stopped" and "exe-c-1" not in cluster.jobs
    recovered = recover(status, Order("Flow", by="alice"), T0)
    assert isinstance(recovered, Recovered) and recovered.status.stopped_at is None
    assert set(recovered.tasks) == {"a", "b", "c"}
    assert phases(recovered.status)["z"] == "Pending"  # finally runs again
    done = cluster.settle(ctx, recovered.status)
    assert done.phase == "Succeeded"
    assert {"exe-a-2", "exe-b-2", "exe-c-1", "exe-z-2"} <= set(cluster.jobs)
    assert cluster.env["z"]["HEADWAY_EXECUTION_PHASE"] == "Succeeded"


def test_a_pass_that_finds_a_stop_half_done_finishes_it_and_starts_nothing() -> None:
    ctx, status = begin()
    cluster = Cluster()
    status = cluster.step(ctx, status)
    cluster.finish("exe-a-1")
    # The operator recorded the stop, then died before its status write of the tasks:
    half = status.model_copy(update={"stopped_at": T0})
    status = cluster.step(held(ctx, "stop"), half)
    assert phases(status)["b"] == "Stopped" and "exe-b-1" in cluster.deleted
    assert phases(status)["a"] == "Succeeded"  # its end was read, not lost
    assert "exe-c-1" not in cluster.jobs  # nothing new starts


def test_a_stopped_map_keeps_its_ended_items_and_a_flow_reruns_only_the_stopped() -> None:
    ctx, status = begin(
        {
            "taskDefaults": {"image": "img", "command": ["t"]},
            "tasks": [{"name": "m", "map": {"items": list(range(4)), "parallelism": 2}}],
        }
    )
    cluster = Cluster()
    status = cluster.step(ctx, status)
    cluster.finish("exe-m-0-1")
    status = cluster.step(ctx, status)  # item 0 ends, item 2 starts; 1 and 2 run
    status = cluster.step(held(ctx, "stop"), status)
    state = status.tasks["m"]
    assert state.phase == "Stopped" and state.map is not None
    assert state.map.phases == "SXXP"
    assert sorted(cluster.deleted) == ["exe-m-1-1", "exe-m-2-1"]
    assert status.phase == "Stopped"
    recovered = recover(status, Order("Flow", by="alice"), T0)
    assert isinstance(recovered, Recovered)
    assert recovered.status.recovery.requests == [] and recovered.status.history[-1].items == [1, 2]
    done = cluster.settle(ctx, recovered.status)
    assert done.phase == "Succeeded"
    assert "exe-m-0-2" not in cluster.jobs and {"exe-m-1-2", "exe-m-2-2"} <= set(cluster.jobs)


def test_what_may_be_asked_of_a_run_and_the_patch_each_sends() -> None:
    from headway.console.views import hold_patch
    from headway.core.preview import holds

    def actions(phase: str | None, suspend: bool = False, stop: bool = False) -> list[str]:
        return [h.action for h in holds(phase, suspend, stop)]

    assert actions("Running") == ["stop", "suspend"]
    assert actions("Pending") == ["stop", "suspend"]
    assert actions("Suspended", suspend=True) == ["stop", "resume"]
    assert actions("Running", stop=True) == ["resume"]
    assert actions("Stopped", stop=True) == ["resume"]
    assert actions("Stopped") == []  # recover it instead
    assert actions("Succeeded") == []
    assert hold_patch({"action": "stop"}) == {"spec": {"stop": True}}
    assert hold_patch({"action": "resume"}) == {"spec": {"suspend": False, "stop": False}}
    assert hold_patch({"action": "delete"}) == "action must be one of stop, suspend, resume"
    assert hold_patch({}) == "action must be one of stop, suspend, resume"


def test_a_stop_asked_of_a_run_that_has_ended_changes_nothing() -> None:
    ctx, status = begin()
    cluster = Cluster()
    done = cluster.settle(ctx, status)
    assert done.phase == "Succeeded"
    after = cluster.step(held(ctx, "stop"), done)
    assert after.phase == "Succeeded" and after.stopped_at is None and cluster.deleted == []
