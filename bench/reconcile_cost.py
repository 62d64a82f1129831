"""Reconcile CPU per event: the operator's own code for one pass (parse what the caches
show, decide, serialize the status to write), for an Execution of N independent tasks
where one task attempt has just ended. No network: the figure is the operator's CPU."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from typing import Any

from headway.core import items
from headway.core.decide import decide
from headway.core.spec import outputs_limit
from headway.handlers.reconcile import load_view
from headway.models.execution import ExecutionStatus, TaskStatus
from headway.models.workflow import WorkflowSpec
from headway.runtime.cache import Cache
from headway.runtime.memory import Memory, wire_status
from headway.shell.store import merge_diff

JSON = dict[str, Any]
NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)
UID = "0b6e1f9e-0000-4000-8000-000000000000"
KEY = ("bench", "exe")


def _job(name: str, task: str, ended: bool, item: int | None = None) -> tuple[JSON, JSON]:
    labels = {"headway.dev/task": task, "headway.dev/attempt": "1"}
    if item is not None:
        labels["headway.dev/item"] = str(item)
    job = {
        "metadata": {
            "name": name,
            "namespace": "bench",
            "resourceVersion": "1",
            "labels": labels,
            "annotations": {"headway.dev/idempotency-key": "k"},
        },
        "status": {"active": 1},
    }
    state: JSON = (
        {"terminated": {"exitCode": 0, "message": '{"n": 1}', "finishedAt": "2026-11-21T12:00:00Z"}}
        if ended
        else {"running": {"startedAt": "2026-11-21T11:59:00Z"}}
    )
    pod = {
        "metadata": {
            "name": f"{name}-pod",
            "namespace": "bench",
            "creationTimestamp": "2026-11-21T11:59:00Z",
            "labels": {"job-name": name},
        },
        "status": {
            "phase": "Succeeded" if ended else "Running",
            "containerStatuses": [{"name": "main", "state": state}],
        },
    }
    return job, pod


def snapshot(tasks: int, ending: int) -> Setup:
    """N independent tasks: the first half Succeeded, the rest Running; task ``ending``
    has just ended (its pod says so), the event this pass handles."""
    workflow = WorkflowSpec.model_validate(
        {
            "taskDefaults": {"image": "bench", "command": ["true"]},
            "tasks": [{"name": f"t{i}"} for i in range(tasks)],
        }
    )
    status = ExecutionStatus(
        phase="Running", workflow=workflow, params={}, outputs_limit=outputs_limit(workflow)
    )
    jobs, pods = [], []
    for i in range(tasks):
        done = i < tasks // 2
        status.tasks[f"t{i}"] = TaskStatus(
            phase="Succeeded" if done else "Running",
            attempts=1,
            job=f"exe-t{i}-1",
            outputs={"n": 1} if done else None,
            outputs_source="Job" if done else None,
            started_at=NOW,
            finished_at=NOW if done else None,
        )
        job, pod = _job(f"exe-t{i}-1", f"t{i}", done or i == ending)
        jobs.append(job)
        pods.append(pod)
    execution = {
        "apiVersion": "headway.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {
            "name": "exe",
            "namespace": "bench",
            "uid": UID,
            "resourceVersion": "7",
            "generation": 1,
        },
        "spec": {"workflow": workflow.wire()},
        "status": status.wire(),
    }
    return Setup(execution, jobs, pods)


def map_snapshot(count: int, ending: int) -> Setup:
    """One map task of N items: the first half Succeeded, the rest Running; item
    ``ending`` has just ended (its pod says so), the event this pass handles."""
    workflow = WorkflowSpec.model_validate(
        {
            "taskDefaults": {"image": "bench", "command": ["true"]},
            "tasks": [{"name": "m", "map": {"items": list(range(count))}}],
        }
    )
    state = items.expand(None, [items.item_key("b", i, i) for i in range(count)])
    for i in range(count):
        done = i < count // 2
        items.put_item(
            state,
            i,
            TaskStatus(
                phase="Succeeded" if done else "Running",
                attempts=1,
                outputs={"n": 1} if done else None,
            ),
        )
    status = ExecutionStatus(
        phase="Running", workflow=workflow, params={}, outputs_limit=outputs_limit(workflow)
    )
    status.tasks["m"] = TaskStatus(phase="Running", attempts=1, map=state, started_at=NOW)
    jobs, pods = [], []
    for i in range(count):
        job, pod = _job(f"exe-m-{i}-1", "m", i < count // 2 or i == ending, item=i)
        jobs.append(job)
        pods.append(pod)
    execution = {
        "apiVersion": "headway.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": "exe", "namespace": "bench", "uid": UID, "resourceVersion": "7",
                     "generation": 1},
        "spec": {"workflow": workflow.wire()},
        "status": status.wire(),
    }  # fmt: skip
    return Setup(execution, jobs, pods)


class Shelf(dict[Any, list[JSON]]):
    """A stand-in for one of kopf's indexes: key -> the objects indexed under it."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, default if default is not None else [])


@dataclass
class Setup:
    execution: JSON
    jobs: list[JSON]
    pods: list[JSON]

    def cache(self) -> tuple[Cache, Shelf]:
        """The operator's cache, fed with these Jobs and pods as the watches would."""
        cache, shelf = Cache(), Shelf({KEY: [self.execution]})
        cache.bind(executions=shelf, requests=Shelf())
        for job in self.jobs:
            cache.saw_job(UID, job)
        for pod in self.pods:
            cache.saw_pod(UID, pod)
        return cache, shelf


def one_pass(cache: Cache, memory: Memory) -> None:
    """What the operator does for one event, the network aside: take what the caches
    show, parse it, decide, and encode the status write (the difference from the version
    read)."""
    shot = cache.snapshot(KEY, since=memory.seq_of)
    assert shot is not None
    view, kept = load_view(None, shot, None, memory)
    decision = decide(view, NOW)
    status = wire_status(decision.status, kept.status, kept.raw)
    patch = merge_diff(kept.raw, status)
    if not patch:
        raise AssertionError("the event changed nothing")
    json.dumps({"metadata": {"resourceVersion": kept.resource_version}, "status": patch})
    version = str(int(kept.resource_version) + 1)
    memory.wrote(view.uid, version, decision.status, status)
    assert decision.since is not None
    memory.planned(view.uid, decision.since)


def least_costs(
    sizes: tuple[int, ...], events: int = 30, repeats: int = 7, of_items: bool = False
) -> dict[int, float]:
    """Per size, the least of ``repeats`` runs of :func:`cost_per_event`, as ``timeit``
    advises (on a shared machine a slower run measures what else woke up, not the code);
    the sizes take turns, so a slow spell of the machine falls on all of them alike."""
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(repeats):
        for size in sizes:
            best[size] = min(best[size], cost_per_event(size, events, of_items))
    return best


def cost_per_event(tasks: int, events: int = 30, of_items: bool = False) -> float:
    """Thread CPU per event, in steady state: each event one more attempt ending, with the
    operator's memory kept from the pass before (as it is between events). ``of_items``:
    the attempts are a map's items (N items of one task), not N tasks."""
    first = map_snapshot if of_items else snapshot
    setup, memory = first(tasks, tasks // 2), Memory()
    cache, shelf = setup.cache()
    one_pass(cache, memory)  # the first pass after a start parses everything once
    ends = list(range(tasks // 2 + 1, tasks))[:events]
    started = time.thread_time()
    for ending in ends:
        ended(cache, shelf, memory, ending, of_items)
        one_pass(cache, memory)
    return (time.thread_time() - started) / len(ends)


def ended(cache: Cache, shelf: Shelf, memory: Memory, task: int, of_items: bool) -> None:
    """The next event: task (or item) ``task``'s pod has ended; the Execution is as last
    written."""
    kept = memory.kept[UID]
    [execution] = shelf[KEY]
    shelf[KEY] = [
        {
            **execution,
            "metadata": {**execution["metadata"], "resourceVersion": kept.resource_version},
            "status": kept.raw,
        }
    ]
    if of_items:
        _job_obj, pod = _job(f"exe-m-{task}-1", "m", True, item=task)
    else:
        _job_obj, pod = _job(f"exe-t{task}-1", f"t{task}", True)
    pod["metadata"]["resourceVersion"] = f"p{task}"
    cache.saw_pod(UID, pod)


if __name__ == "__main__":
    for n, cost in least_costs((10, 100, 1000)).items():
        print(f"{n:5} tasks: {cost * 1000:8.2f} ms per event")
    for n, cost in least_costs((100, 1000, 10_000), repeats=3, of_items=True).items():
        print(f"{n:5} items: {cost * 1000:8.2f} ms per item completion")
