"""Maps in the pure core: the list, item keys, the compact item state, the planner running
items under caps, and recovery by item."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest

from headway.core import items, pages
from headway.core.actions import CreateJob
from headway.core.context import Context
from headway.core.facts import ObservedJob
from headway.core.plan import plan
from headway.core.recovery import Order, Recovered, Rejected, recover
from headway.core.render import Owner, render_job
from headway.core.spec import workflow_problems
from headway.core.start import start
from headway.core.templates import Item
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus, MapStatus
from headway.models.workflow import MapSpec, WorkflowSpec
from headway.runtime.memory import task_wire, wire_status

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
OWNER = Owner("exe", "ns", "uid-1")


def workflow(values: Any, **map_spec: Any) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "taskDefaults": {"image": "img"},
            "tasks": [
                {"name": "list", "command": ["true"]},
                {
                    "name": "proc",
                    "dependencies": ["list"],
                    "map": {"items": values, **map_spec},
                    "command": ["work"],
                    "env": [{"name": "ITEM", "value": "{{ item }}"}],
                },
                {"name": "sum", "dependencies": ["proc"], "command": ["true"]},
            ],
        }
    )


class Cluster:
    """Plays the Job controller: every created Job ends as ``outcome`` says."""

    def __init__(self, listed: list[Any], failing: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.jobs: dict[str, ObservedJob] = {}
        self.listed, self.failing = listed, set(failing)
        self.created: list[str] = []
        self.inputs: dict[str, str] = {}  # Job -> the inputs it was given

    def run(self, ctx: Context, status: ExecutionStatus, passes: int = 10) -> ExecutionStatus:
        for _ in range(passes):
            result = plan(ctx, status, self.jobs, T0)
            status = result.status
            for action in result.jobs:
                if isinstance(action, CreateJob):
                    self.finish(action)
        return status

    def finish(self, action: CreateJob) -> None:
        meta = action.manifest["metadata"]
        name, label = meta["name"], meta["labels"].get("headway.dev/item")
        self.created.append(name)
        annotations = action.manifest["spec"]["template"]["metadata"].get("annotations") or {}
        self.inputs[name] = annotations.get("headway.dev/inputs", "")
        item = int(label) if label is not None else None
        if item is not None and item in self.failing:
            fact = ObservedJob(name, action.task, action.attempt, "Failed", exit_code=1,
                               reason="NonZeroExit", message="boom", item=item)  # fmt: skip
        else:
            out = {"files": self.listed} if action.task == "list" else {"n": item}
            fact = ObservedJob(name, action.task, action.attempt, "Succeeded", exit_code=0,
                               termination_message=json.dumps(out), item=item)  # fmt: skip
        self.jobs[name] = fact


def begin(wf: WorkflowSpec) -> tuple[Context, ExecutionStatus]:
    spec = ExecutionSpec.model_validate({"workflow": wf.wire()})
    return Context(OWNER, wf, {}, AutoRecovery()), start(spec, ExecutionStatus(), None, T0)


def test_items_run_one_job_each_and_successors_get_their_outputs_in_order() -> None:
    ctx, status = begin(workflow("{{ tasks.list.outputs.files }}"))
    cluster = Cluster(["a", "b", "c"])
    done = cluster.run(ctx, status)
    assert done.phase == "Succeeded"
    assert cluster.created == ["exe-list-1", "exe-proc-0-1", "exe-proc-1-1", "exe-proc-2-1",
                               "exe-sum-1"]  # fmt: skip
    proc = done.tasks["proc"]
    assert proc.map is not None and proc.map.phases == "SSS" and proc.map.items == {}
    assert items.outputs_list(proc.map) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_parallelism_caps_the_items_and_the_workflow_caps_every_job() -> None:
    ctx, status = begin(workflow(list(range(7)), parallelism=2))
    status = plan(ctx, status, {}, T0).status  # list is Running
    jobs = {"exe-list-1": ObservedJob("exe-list-1", "list", 1, "Succeeded", exit_code=0,
                                      termination_message="{}")}  # fmt: skip
    result = plan(ctx, status, jobs, T0)
    started = [a.name for a in result.jobs if isinstance(a, CreateJob)]
    assert len(started) == 2
    capped = WorkflowSpec.model_validate({**workflow(list(range(7))).wire(), "parallelism": 3})
    ctx, status = begin(capped)
    status = plan(ctx, status, {}, T0).status
    result = plan(ctx, status, jobs, T0)
    assert len([a for a in result.jobs if isinstance(a, CreateJob)]) == 3


def test_a_failed_item_fails_the_map_past_max_failures_and_flow_reruns_only_it() -> None:
    ctx, status = begin(workflow(list(range(5))))
    cluster = Cluster([], failing={1, 3})
    failed = cluster.run(ctx, status)
    proc = failed.tasks["proc"]
    assert (failed.phase, proc.phase, proc.reason) == ("Failed", "Failed", "ItemsFailed")
    assert proc.map is not None and proc.map.phases == "SFSFS"
    cluster.failing.clear()
    recovered = recover(failed, Order("Flow", by="alice"), T0)
    assert isinstance(recovered, Recovered)
    history = recovered.status.history[-1]
    assert (history.task, history.items) == ("proc", [1, 3])
    before = list(cluster.created)
    done = cluster.run(ctx, recovered.status)
    assert done.phase == "Succeeded"
    assert cluster.created[len(before) :] == ["exe-proc-1-2", "exe-proc-3-2", "exe-sum-1"]


def test_max_failures_lets_the_map_succeed_with_failed_items() -> None:
    ctx, status = begin(workflow(list(range(4)), maxFailures=1))
    done = Cluster([], failing={2}).run(ctx, status)
    assert done.phase == "Succeeded"
    assert done.tasks["proc"].map is not None and done.tasks["proc"].map.phases == "SSFS"


def test_requests_name_items_and_bad_ones_are_rejected() -> None:
    ctx, status = begin(workflow(list(range(4))))
    failed = Cluster([], failing={0, 2}).run(ctx, status)
    cases = [
        (Order("Flow", task="proc", items=(7,), by="a"), "4 items (0 to 3): no item 7"),
        (Order("Flow", task="list", items=(0,), by="a"), 'task "list" has no items'),
        (Order("ProvideOutputs", task="proc", outputs={}, by="a"), "names the items"),
        (Order("ProvideOutputs", task="proc", items=(1,), outputs={}, by="a"), "not Failed"),
        (Order("Flow", items=(1,), by="a"), "items need a task"),
    ]
    for order, message in cases:
        rejected = recover(failed, order, T0)
        assert isinstance(rejected, Rejected) and message in rejected.message, order
    given = recover(failed, Order("ProvideOutputs", task="proc", items=(0,), outputs={"n": 9},
                                  by="a"), T0)  # fmt: skip
    assert isinstance(given, Recovered)
    state = given.status.tasks["proc"].map
    assert state is not None and state.phases == "SSFS" and state.outputs["0"]["0"] == {"n": 9}


def test_a_step_on_one_item_keeps_the_other_failed_item_failed() -> None:
    ctx, status = begin(workflow(list(range(3))))
    cluster = Cluster([], failing={0, 2})
    failed = cluster.run(ctx, status)
    stepped = recover(failed, Order("Step", task="proc", items=(0,), by="a"), T0)
    assert isinstance(stepped, Recovered)
    cluster.failing = {2}
    after = cluster.run(ctx, stepped.status)
    assert cluster.created[-1] == "exe-proc-0-2"
    state = after.tasks["proc"].map
    assert state is not None and state.phases == "SSF" and after.tasks["proc"].phase == "Failed"


def test_expansion_keeps_ended_items_whose_key_is_unchanged() -> None:
    spec = MapSpec(items="{{ tasks.list.outputs.files }}")
    base = items.base_key("uid", "proc", spec, {}, {"list": {"files": [1, 2], "other": 1}})
    same = items.base_key("uid", "proc", spec, {}, {"list": {"files": [1, 2, 3], "other": 1}})
    assert base == same  # the list itself is not part of the map's key
    changed = items.base_key("uid", "proc", spec, {}, {"list": {"files": [1, 2], "other": 2}})
    assert changed != base
    old = items.expand(None, [items.item_key(base, i, v) for i, v in enumerate([1, 2])])
    for index in range(2):
        items.put_item(old, index, items.item_state(old, index).model_copy(
            update={"phase": "Succeeded", "attempts": 1, "outputs": {"i": index}}))  # fmt: skip
    grown = items.expand(old, [items.item_key(base, i, v) for i, v in enumerate([1, 9, 3])])
    assert grown.phases == "SPP" and grown.outputs == {"0": {"0": {"i": 0}}}
    assert grown.attempts == {"1": 1}  # item 1 changed: its next Job is attempt 2


def test_item_state_round_trips_through_the_compact_form() -> None:
    state = items.expand(None, ["k" * 32] * 3)
    failed = items.item_state(state, 1).model_copy(
        update={
            "phase": "Failed",
            "attempts": 2,
            "reason": "NonZeroExit",
            "message": "x" * 300,
            "failures": 2,
            "exit_code": 3,
        }
    )
    items.put_item(state, 1, failed)
    read = items.item_state(state, 1)
    assert (read.phase, read.attempts, read.reason, read.failures, read.exit_code) == (
        "Failed", 2, "NonZeroExit", 2, 3)  # fmt: skip
    assert read.message is not None and len(read.message) == items.ITEM_MESSAGE_LIMIT
    assert state.phases == "PFP" and state.items["1"].wire()["attempts"] == 2
    items.put_item(state, 1, read.model_copy(update={"phase": "Succeeded", "outputs": {}}))
    assert state.items == {} and state.attempts == {"1": 2} and state.phases == "PSP"


def test_the_incremental_wire_of_a_map_equals_the_whole_one() -> None:
    ctx, status = begin(workflow(list(range(6))))
    cluster = Cluster([], failing={4})
    first = cluster.run(ctx, status, passes=2)
    second = cluster.run(ctx, first, passes=3)
    old, new = first.tasks["proc"], second.tasks["proc"]
    assert task_wire(new, old, old.wire()) == new.wire()


def test_admission_checks_literal_lists_and_param_defaults() -> None:
    def problems(values: Any, param: str | None = None, arg: str = "{{ item }}") -> list[str]:
        wf = workflow(values).wire()
        wf["tasks"][1]["args"] = [arg]
        if param is not None:
            wf["params"] = [{"name": "ids", "default": param}]
        return workflow_problems(WorkflowSpec.model_validate(wf))

    assert problems([1, 2]) == []
    assert 'item 0 is a int, not an object with key "id"' in problems([1], arg="{{ item.id }}")[0]
    assert "not a JSON list" in problems("{{ params.ids }}", param="nope")[0]
    assert problems("{{ params.ids }}", param="[1, 2]") == []
    assert "more than 10000" in problems(list(range(10_001)))[0]
    assert "must be a list or a" in problems("1, 2")[0]


def test_an_item_job_names_its_item_and_gets_its_inputs_in_a_file() -> None:
    task = workflow([{"id": "x"}]).tasks[1].model_copy(update={"args": ["{{ item.id }}"]})
    job = render_job(OWNER, task, 1, {}, {"list": {"files": []}}, "k", None, Item(0, {"id": "x"}))
    template = job["spec"]["template"]
    container = template["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert job["metadata"]["name"] == "exe-proc-0-1" and container["args"] == ["x"]
    assert env["HEADWAY_ITEM"] == '{"id":"x"}' and env["HEADWAY_ITEM_INDEX"] == "0"
    assert env["HEADWAY_INPUTS_FILE"] == "/var/run/headway/inputs.json"
    assert json.loads(template["metadata"]["annotations"]["headway.dev/inputs"]) == {
        "list": {"files": []}
    }
    big = {"list": {"files": ["x" * 1000] * 40}}
    env_big = render_job(OWNER, task, 1, {}, big, "k", None, Item(0, {"id": "x"}))
    names = [e["name"] for e in env_big["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert "HEADWAY_INPUTS" not in names and "HEADWAY_INPUTS_FILE" in names


@pytest.mark.parametrize("count", [10_000])
def test_ten_thousand_items_fit_in_a_small_status(count: int) -> None:
    keys = [items.item_key("base", i, i) for i in range(count)]
    state = items.expand(None, keys)
    for index in range(count):
        items.put_item(state, index, items.item_state(state, index).model_copy(
            update={"phase": "Succeeded", "attempts": 1, "outputs": {}}))  # fmt: skip
    size = len(json.dumps(MapStatus.model_validate(state.wire()).wire()))
    assert size < count * items.ITEM_BYTES // 4  # letters and keys: ~11 bytes an item


def test_a_literal_list_of_ten_thousand_is_set_aside_once_and_a_runtime_one_when_expanded() -> None:
    literal = list(range(10_000))
    ctx, status = begin(workflow(literal))
    assert status.outputs_limit is not None and status.outputs_limit > 64 * 1024
    cluster = Cluster([])
    running = cluster.run(ctx, status, passes=3)
    proc = running.tasks["proc"]
    assert proc.phase == "Running" and proc.map is not None and proc.map.count == 10_000
    assert running.outputs_limit == status.outputs_limit  # not set aside a second time
    # The same list given at run time is set aside when the map expands: here too much.
    ctx, status = begin(workflow("{{ tasks.list.outputs.files }}"))
    status.outputs_limit = 2_000
    failed = Cluster(list(range(50))).run(ctx, status, passes=3)
    assert failed.tasks["proc"].reason == "TooManyItems"
    assert "50 items need 5000 bytes" in (failed.tasks["proc"].message or "")


def test_an_item_retries_on_its_own_and_a_stalled_item_gets_a_new_attempt() -> None:
    wf = WorkflowSpec.model_validate(
        {
            "taskDefaults": {"image": "img"},
            "tasks": [
                {"name": "proc", "map": {"items": [0, 1, 2]}, "command": ["work"],
                 "retry": {"limit": 1, "backoffSeconds": 0}},
            ],
        }
    )  # fmt: skip
    ctx, status = begin(wf)
    running = plan(ctx, status, {}, T0).status
    failed = ObservedJob("exe-proc-1-1", "proc", 1, "Failed", exit_code=1, reason="NonZeroExit",
                         message="boom", item=1)  # fmt: skip
    lost = ObservedJob("exe-proc-2-1", "proc", 1, "Running", stalled="pod evicted", item=2,
                       confirmed=True, evidence="a direct read found it")  # fmt: skip
    ok = ObservedJob("exe-proc-0-1", "proc", 1, "Succeeded", exit_code=0,
                     termination_message="{}", item=0)  # fmt: skip
    jobs = {"exe-proc-0-1": ok, "exe-proc-1-1": failed, "exe-proc-2-1": lost}
    result = plan(ctx, running, jobs, T0)
    started = sorted(a.name for a in result.jobs if isinstance(a, CreateJob))
    assert started == ["exe-proc-1-2", "exe-proc-2-2"]  # a retry and a new attempt
    state = result.status.tasks["proc"].map
    assert state is not None and state.phases == "SRR"
    one, two = items.item_state(state, 1), items.item_state(state, 2)
    assert (one.attempts, one.failures, one.auto_recoveries) == (2, 1, 0)
    assert (two.attempts, two.failures, two.auto_recoveries) == (2, 0, 1)
    assert [h.item for h in result.status.history if h.event == "AutoRecovered"] == [2]


def test_a_pod_waiting_its_turn_is_looked_at_again_at_its_deadline_not_every_pass() -> None:
    """Thousands of items whose pods wait for a node: not visited on every pass (each
    would cost a look), but remembered with the moment each would be a stall."""
    ctx, status = begin(workflow([0, 1]))
    jobs = {"exe-list-1": ObservedJob("exe-list-1", "list", 1, "Succeeded", exit_code=0,
                                      termination_message="{}")}  # fmt: skip
    first = plan(ctx, status, {}, T0)
    second = plan(ctx, first.status, jobs, T0, since=first.since, touched={"list"})
    waiting = {
        f"exe-proc-{i}-1": ObservedJob(f"exe-proc-{i}-1", "proc", 1, "Running", item=i,
                                       pending_since=T0, pending_reason="no pod yet")
        for i in range(2)
    }  # fmt: skip
    seen = {**jobs, **waiting}
    later = T0 + datetime.timedelta(seconds=10)
    third = plan(ctx, second.status, seen, later, since=second.since,
                 touched={"proc#0", "proc#1"})  # fmt: skip
    assert third.since is not None and set(third.since.deadlines) == {"proc#0", "proc#1"}
    assert "proc#0" not in third.watch
    limit = T0 + datetime.timedelta(seconds=300)
    assert third.wake_at == limit
    past = plan(ctx, third.status, seen, limit, since=third.since, touched=set())
    assert past.confirm == {"exe-proc-0-1", "exe-proc-1-1"}  # a suspected stall: read them


# --- item outputs past what the status keeps: OutputPages ------------------------------------

PAD = "x" * 600  # 250 items of this: 155 KB, past the limit the tests set


@pytest.fixture(autouse=False)
def small_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep 32 KiB of item outputs in the status: pages move out, and the successor can
    still be given every item's outputs (its inputs are capped at 200 KiB)."""
    monkeypatch.setattr(items, "INLINE_OUTPUTS_BYTES", 32 * 1024)


class Padded(Cluster):
    """Items whose outputs are padded (600 bytes each, unless told)."""

    pad = PAD

    def finish(self, action: CreateJob) -> None:
        super().finish(action)
        fact = self.jobs[action.name]
        if fact.item is not None and fact.outcome == "Succeeded":
            out = json.dumps({"n": fact.item, "pad": self.pad})
            self.jobs[action.name] = dataclasses.replace(fact, termination_message=out)


def padded_run(failing: set[int] | None = None) -> tuple[Context, ExecutionStatus, Padded]:
    ctx, status = begin(workflow(list(range(250))))
    cluster = Padded([], failing=failing or set())
    return ctx, cluster.run(ctx, status, passes=12), cluster


def as_read(status: ExecutionStatus) -> ExecutionStatus:
    """The status as the API server gives it back: written whole, then parsed."""
    raw = wire_status(status, ExecutionStatus(), {})
    return ExecutionStatus.model_validate(json.loads(json.dumps(raw)))


@pytest.mark.usefixtures("small_status")
def test_outputs_past_the_inline_limit_move_out_and_successors_still_get_every_item() -> None:
    _, done, cluster = padded_run()
    assert done.phase == "Succeeded"
    proc = done.tasks["proc"].map
    assert proc is not None and len(proc.stored) >= 2
    assert items.outputs_size(proc) <= items.INLINE_OUTPUTS_BYTES
    raw = wire_status(done, ExecutionStatus(), {})
    assert not set(raw["tasks"]["proc"]["map"]["outputs"]) & set(proc.stored)
    assert len(json.dumps(raw)) < 64 * 1024  # 155 KB of outputs, most of them out
    # The successor was started from every item's outputs, stored or not, in order.
    sum_inputs = json.loads(cluster.inputs["exe-sum-1"])["proc"]
    assert [o["n"] for o in sum_inputs] == list(range(250))


@pytest.mark.usefixtures("small_status")
def test_pages_are_written_when_their_digest_changes_and_read_back_whole() -> None:
    _, done, _ = padded_run()
    proc = done.tasks["proc"].map
    assert proc is not None
    writes = pages.changed(OWNER, done, ExecutionStatus())
    assert sorted(str(w.manifest["spec"]["page"]) for w in writes) == sorted(proc.stored)
    for write in writes:
        meta = write.manifest["metadata"]
        assert meta["ownerReferences"][0]["uid"] == OWNER.uid
        assert meta["labels"]["headway.dev/execution-uid"] == OWNER.uid
    assert pages.changed(OWNER, done, done) == []  # nothing changed: nothing written
    read = as_read(done)
    assert pages.needs(read)
    assert pages.missing(read, pages.read(w.manifest for w in writes)) == []
    assert not pages.needs(read)
    assert read.tasks["proc"].map is not None
    assert items.outputs_list(read.tasks["proc"].map) == items.outputs_list(proc)


@pytest.mark.usefixtures("small_status")
def test_a_page_changed_or_missing_is_named_and_never_read_as_outputs() -> None:
    _, done, _ = padded_run()
    proc = done.tasks["proc"].map
    assert proc is not None
    writes = [
        json.loads(json.dumps(w.manifest)) for w in pages.changed(OWNER, done, ExecutionStatus())
    ]
    first = writes[0]["spec"]
    first["outputs"][next(iter(first["outputs"]))] = {"n": -1}  # its digest left as it was
    read = as_read(done)
    assert pages.missing(read, pages.read(writes)) == [f"proc/{first['page']}"]
    assert read.tasks["proc"].map is not None
    assert str(first["page"]) not in read.tasks["proc"].map.outputs  # not taken as outputs
    assert pages.missing(as_read(done), {}) == [f"proc/{p}" for p in proc.stored]


@pytest.mark.usefixtures("small_status")
def test_a_rerun_item_in_a_stored_page_rewrites_that_page_only() -> None:
    ctx, failed, cluster = padded_run(failing={140})
    assert failed.phase == "Failed"
    proc = failed.tasks["proc"].map
    assert proc is not None and "1" in proc.stored  # items 100-199 were stored
    assert "140" not in proc.outputs["1"]
    cluster.failing.clear()
    recovered = recover(failed, Order("Flow", by="alice"), T0)
    assert isinstance(recovered, Recovered)
    done = cluster.run(ctx, recovered.status, passes=6)
    assert done.phase == "Succeeded"
    writes = pages.changed(OWNER, done, failed)
    assert [w.manifest["spec"]["page"] for w in writes] == [1]  # item 140's page
    assert writes[0].manifest["spec"]["outputs"]["140"]["n"] == 140


def test_a_successor_given_more_than_its_inputs_limit_fails_saying_so() -> None:
    ctx, status = begin(workflow(list(range(250))))
    cluster = Padded([])
    cluster.pad = "x" * 3_000  # 250 items: 755 KB, more than a task may be given (200 KiB)
    done = cluster.run(ctx, status, passes=12)
    proc, after = done.tasks["proc"], done.tasks["sum"]
    assert proc.phase == "Succeeded" and proc.map is not None and proc.map.stored
    assert (after.phase, after.reason) == ("Failed", "InputsTooLarge")
    assert after.message is not None and "more than 204800" in after.message
