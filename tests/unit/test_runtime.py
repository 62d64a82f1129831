"""The controller runtime, part by part: the work queue (coalescing, a key added while it
runs, back-off after a failure, wake-ups), the cache's expectations of Jobs just created,
the Lease's next move, and the conflict loop of a reconcile (a status write that lost a
race reads the Execution again and decides again)."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from headway.core import identity
from headway.core.facts import observe_job
from headway.core.lease import LeaseView, next_move
from headway.core.tally import Tally
from headway.handlers.reconcile import reconcile_execution
from headway.runtime.cache import EXPECTATION_SECONDS, Cache, Snapshot, slim
from headway.runtime.leader import Election, lead
from headway.runtime.memory import Memory
from headway.runtime.metrics import Metrics
from headway.runtime.queue import WorkQueue
from headway.shell.kube import KubeError

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)


# --- the work queue -------------------------------------------------------------------------


def run_queue(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=20))


def test_many_adds_before_a_worker_gets_to_a_key_coalesce_into_one_run() -> None:
    async def scenario() -> None:
        runs: list[str] = []

        async def process(key: str) -> None:
            runs.append(key)

        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        queue.open.clear()  # nobody takes work yet
        for _ in range(5):
            queue.add("a")
        queue.add("b")
        assert queue.depth() == 2
        worker = asyncio.create_task(queue.run())
        queue.open.set()
        while len(runs) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        worker.cancel()
        assert sorted(runs) == ["a", "b"]

    run_queue(scenario)


def test_a_key_added_while_it_runs_runs_once_more_afterwards_never_twice_at_once() -> None:
    async def scenario() -> None:
        running, most, runs = 0, 0, 0
        release = asyncio.Event()

        async def process(key: str) -> None:
            nonlocal running, most, runs
            running += 1
            most = max(most, running)
            runs += 1
            if runs == 1:
                await release.wait()
            running -= 1

        queue: WorkQueue[str] = WorkQueue(process, workers=4)
        worker = asyncio.create_task(queue.run())
        queue.add("a")
        while runs < 1:
            await asyncio.sleep(0.01)
        queue.add("a")  # while it runs: three adds, one more run
        queue.add("a")
        queue.add("a")
        await asyncio.sleep(0.05)
        assert runs == 1  # not a second worker on the same key
        release.set()
        while runs < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        worker.cancel()
        assert (runs, most) == (2, 1)

    run_queue(scenario)


def test_a_failing_run_is_tried_again_after_a_growing_delay() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def process(key: str) -> None:
            times.append(loop.time())
            if len(times) < 3:
                raise RuntimeError("the API server is away")

        queue: WorkQueue[str] = WorkQueue(process, workers=1)
        worker = asyncio.create_task(queue.run())
        queue.add("a")
        while len(times) < 3:
            await asyncio.sleep(0.01)
        worker.cancel()
        first, second = times[1] - times[0], times[2] - times[1]
        assert 0.9 <= first < second, (first, second)  # 1 s, then 2 s

    run_queue(scenario)


def test_a_run_that_asks_to_be_woken_is_run_again_then() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        times: list[float] = []
        now = T0

        async def process(key: str) -> datetime.datetime | None:
            times.append(loop.time())
            return now + datetime.timedelta(seconds=0.3) if len(times) == 1 else None

        queue: WorkQueue[str] = WorkQueue(process, workers=1, clock=lambda: now)
        worker = asyncio.create_task(queue.run())
        queue.add("a")
        while len(times) < 2:
            await asyncio.sleep(0.01)
        worker.cancel()
        assert times[1] - times[0] >= 0.29

    run_queue(scenario)


# --- the cache's expectations ------------------------------------------------------------------


class Index:
    """kopf's index, as the cache reads it: key -> the values of every object."""

    def __init__(self, values: Mapping[Any, list[JSON]] | None = None) -> None:
        self.values_of = dict(values or {})

    def get(self, key: Any, default: Any = None) -> Any:
        return self.values_of.get(key, default)

    def values(self) -> Any:
        return self.values_of.values()


def execution(version: str = "5") -> JSON:
    return {"metadata": {"name": "e", "namespace": "ns", "uid": "u1", "resourceVersion": version}}


def job(name: str) -> JSON:
    return {"metadata": {"name": name, "ownerReferences": [{"uid": "u1", "controller": True}]}}


def test_a_job_just_created_is_in_the_snapshot_until_the_watch_shows_it_or_it_expires() -> None:
    cache = Cache()
    cache.bind(executions=Index({("ns", "e"): [execution()]}), requests=Index())
    cache.wrote(("ns", "e"), None, [job("e-a-1")])
    snapshot = cache.snapshot(("ns", "e"))
    assert snapshot is not None and list(snapshot.jobs) == ["e-a-1"]
    # Never seen: given up on after EXPECTATION_SECONDS (then it is a suspected stall).
    later = cache.snapshot(("ns", "e"), now=time.monotonic() + EXPECTATION_SECONDS + 1)
    assert later is not None and later.jobs == {}
    # Seen by the watch: the cache holds it and the expectation is dropped.
    cache.wrote(("ns", "e"), None, [job("e-a-2")])
    told = cache.snapshot(("ns", "e"), since=lambda _uid: later.seq)
    assert told is not None and told.changed == frozenset({"e-a-2"})  # shown: looked at
    cache.saw_job("u1", job("e-a-2"))
    seen = cache.snapshot(("ns", "e"))
    assert seen is not None and list(seen.jobs) == ["e-a-2"]
    assert cache.expected["u1"] == {}
    assert EXPECTATION_SECONDS >= 60


def test_the_status_just_written_wins_over_an_older_one_from_the_watch() -> None:
    cache = Cache()
    cache.bind(executions=Index({("ns", "e"): [execution("5")]}))
    cache.wrote(("ns", "e"), execution("9"), [])
    assert (cache.execution(("ns", "e")) or {})["metadata"]["resourceVersion"] == "9"
    cache.seen(("ns", "e"), execution("9"))  # the watch caught up
    assert cache.written == {}


# --- the Lease --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lease", "move"),
    [
        (None, "acquire"),
        (LeaseView(None, None, 15), "acquire"),
        (LeaseView("me", T0, 15), "renew"),
        (LeaseView("other", T0 - datetime.timedelta(seconds=10), 15), "wait"),
        (LeaseView("other", T0 - datetime.timedelta(seconds=15), 15), "acquire"),
        (LeaseView("other", None, 15), "acquire"),
    ],
)
def test_the_next_move_on_the_lease(lease: LeaseView | None, move: str) -> None:
    assert next_move(lease, "me", T0) == move


# --- the conflict loop ------------------------------------------------------------------------


class ConflictingKube:
    """An API server whose Execution changed under the first status write (409); it
    then serves the newer version, and takes the write conditioned on it."""

    def __init__(self, stored: JSON) -> None:
        self.stored = stored
        self.writes: list[JSON] = []
        self.gets = 0

    def patch(self, path: str, body: JSON, content_type: str = "") -> JSON:
        precondition = body["metadata"]["resourceVersion"]
        if precondition != self.stored["metadata"]["resourceVersion"]:
            raise KubeError(409, "PATCH", path, '{"message": "the object has been modified"}')
        self.writes.append(body)
        self.stored = {**self.stored, "status": {**self.stored.get("status", {}), **body["status"]}}
        self.stored["metadata"] = {**self.stored["metadata"], "resourceVersion": "100"}
        return self.stored

    def find(self, path: str) -> JSON | None:
        self.gets += 1
        return self.stored

    creates = 0

    def create(self, path: str, body: JSON) -> JSON:
        self.creates += 1
        return {**body, "metadata": {**body["metadata"], "uid": "job-uid", "resourceVersion": "7"}}


KEY = b"k" * 32


def test_a_status_write_that_lost_a_race_reads_the_execution_again_and_decides_again() -> None:
    workflow = {"tasks": [{"name": "a", "image": "i", "command": ["true"]}]}
    fields = identity.definition_fields("Execution", "ns", "e", workflow, "dana")
    signed = {
        identity.ANNOTATION_DEFINED_BY: "dana",
        identity.ANNOTATION_DEFINER_SIGNATURE: identity.signature(KEY, *fields),
    }
    seen: JSON = {"apiVersion": "headway.dev/v1alpha1", "kind": "Execution",
                  "metadata": {"name": "e", "namespace": "ns", "uid": "u1",
                               "resourceVersion": "5", "generation": 1, "annotations": signed},
                  "spec": {"workflow": workflow}, "status": {}}  # fmt: skip
    # Meanwhile someone else wrote the status (a label, an earlier pass): version 6.
    newer = {**seen, "metadata": {**seen["metadata"], "resourceVersion": "6"}}
    kube = ConflictingKube(newer)
    snapshot = Snapshot(seen, {}, {}, [])
    outcome = reconcile_execution(kube, snapshot, KEY, Memory(), clock=lambda: T0)  # type: ignore[arg-type]
    assert kube.gets == 1 and len(kube.writes) == 1
    assert kube.writes[0]["metadata"]["resourceVersion"] == "6"
    assert outcome.written is not None
    # The Job created before the conflict is known to the second decision: created once,
    # and the status written says it runs.
    assert [j["metadata"]["name"] for j in outcome.created] == ["e-a-1"]
    assert kube.creates == 1
    assert kube.stored["status"]["tasks"]["a"]["phase"] == "Running"


# --- leading ------------------------------------------------------------------------------


class Lease:
    """A Lease client whose holds succeed as scripted."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers

    def try_hold(self, now: datetime.datetime) -> bool:
        return self.answers.pop(0) if self.answers else False


def test_a_leader_leads_once_and_stops_when_it_cannot_renew_within_the_deadline() -> None:
    led, lost = [], []
    clock = iter(T0 + datetime.timedelta(seconds=s) for s in range(0, 1000, 2))
    election = Election("ns", "lease", "me", duration_seconds=1)  # retry 0.2 s, renew by 0.67 s

    lease = Lease([False, True, True, False, False])

    async def scenario() -> None:
        on_lead, on_lost = lambda: led.append(1), lambda: lost.append(1)
        await lead(lease, election, on_lead, on_lost, clock=lambda: next(clock))  # type: ignore[arg-type]

    run_queue(scenario)
    assert (led, lost) == ([1], [1])


# --- metrics ------------------------------------------------------------------------------


def test_the_metrics_count_what_passes_did_and_the_phases_the_cache_holds() -> None:
    executions: list[JSON] = [
        {"metadata": {"namespace": "ns"}, "status": {"phase": "Failed",
         "tasks": {"a": {"phase": "Succeeded"}, "b": {"phase": "Failed"}}}},
        {"metadata": {"namespace": "ns"}},
    ]  # fmt: skip
    metrics = Metrics(lambda: executions)
    metrics.count(Tally(attempts=3, stalls=1, recoveries=Counter({("Flow", "Applied"): 1})))
    text = metrics.exposition().decode()
    for line in (
        "headway_task_attempts_total 3.0",
        "headway_task_stalls_total 1.0",
        'headway_recoveries_total{mode="Flow",phase="Applied"} 1.0',
        'headway_executions{namespace="ns",phase="Failed"} 1.0',
        'headway_executions{namespace="ns",phase="Pending"} 1.0',
        'headway_tasks{namespace="ns",phase="Succeeded"} 1.0',
    ):
        assert line in text, line


def test_the_cache_keeps_what_facts_are_drawn_from_and_not_the_rest() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "labels": {"job-name": "j"},
            "managedFields": [{"manager": "kubelet"}],
            "annotations": {"headway.dev/inputs": "{}" * 1000, "other": "x"},
        },
        "spec": {"containers": [{"name": "main", "env": [{"name": "BIG", "value": "x" * 9}]}]},
        "status": {"phase": "Running"},
    }
    kept = slim(pod)
    assert kept["metadata"] == {"name": "p", "labels": {"job-name": "j"}}
    assert "spec" not in kept
    assert kept["status"] == {"phase": "Running", "conditions": [], "containerStatuses": []}
    job = {"metadata": {"name": "j"}, "spec": {"activeDeadlineSeconds": 3, "template": {}}}
    assert slim(job)["spec"] == {"activeDeadlineSeconds": 3}
    assert observe_job(slim(job), kept) == observe_job(job, pod)


def _pod_as_kubelet_writes(state: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "j-abc", "namespace": "ns", "uid": "u", "resourceVersion": "9",
            "creationTimestamp": "2026-12-04T12:00:00Z", "generateName": "j-",
            "labels": {"batch.kubernetes.io/job-name": "j", "job-name": "j",
                       "controller-uid": "c", "headway.dev/task": "t"},
            "ownerReferences": [{"kind": "Job", "name": "j", "uid": "c", "controller": True}],
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.0.0.2", "qosClass": "Burstable",
            "startTime": "2026-12-04T12:00:01Z",
            "conditions": [
                {"type": "Ready", "status": "False", "lastProbeTime": None},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2026-12-04T12:00:00Z"},
            ],
            "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "sha",
                                   "containerID": "cri://1", "ready": False, "restartCount": 0,
                                   "state": state}],
            **status,
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    "pod",
    [
        _pod_as_kubelet_writes({"running": {"startedAt": "2026-12-04T12:00:02Z"}}),
        _pod_as_kubelet_writes(
            {"terminated": {"exitCode": 0, "message": '{"n": 1}', "reason": "Completed",
                            "finishedAt": "2026-12-04T12:00:09Z", "containerID": "cri://1"}},
            phase="Succeeded",
        ),
        _pod_as_kubelet_writes(
            {"terminated": {"exitCode": 137, "reason": "Error"}}, phase="Failed",
            conditions=[{"type": "DisruptionTarget", "status": "True",
                         "reason": "EvictionByEvictionAPI",
                         "message": "evicted", "lastTransitionTime": "2026-12-04T12:00:05Z"}],
        ),
        _pod_as_kubelet_writes({}, phase="Failed", reason="Evicted", message="low on memory"),
        _pod_as_kubelet_writes(
            {"waiting": {"reason": "ContainerCreating"}}, phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/2 nodes", "lastTransitionTime": "2026-12-04T12:00:00Z"}],
        ),
    ],
)  # fmt: skip
def test_slim_objects_give_the_facts_the_whole_ones_give(pod: dict[str, Any]) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "j", "uid": "c", "resourceVersion": "8",
            "creationTimestamp": "2026-12-04T12:00:00Z",
            "labels": {"headway.dev/task": "t", "headway.dev/attempt": "1"},
            "annotations": {"headway.dev/idempotency-key": "k", "batch.kubernetes.io/x": "y"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}},
        "status": {"active": 1, "startTime": "2026-12-04T12:00:00Z",
                   "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": "x",
                                   "lastTransitionTime": "2026-12-04T12:00:10Z"}]},
    }  # fmt: skip
    assert observe_job(slim(job), slim(pod)) == observe_job(job, pod)
    without_end = {**job, "status": {"active": 1}}
    assert observe_job(slim(without_end), slim(pod)) == observe_job(without_end, pod)
