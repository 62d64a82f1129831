"""The operator SIGKILLed every 0.5 to 4 s for a minute while many runs go on, under load
from another namespace, and with some pods deleted on purpose: every task attempt has
exactly one Job, every Job an attempt the status counts, nothing is lost, and every new
attempt after a stall names real evidence (a pod this test deleted).

``HEADWAY_SOAK_SEED`` replays a run; ``HEADWAY_SOAK_SECONDS`` lengthens it."""

from __future__ import annotations

import collections
import os
import random
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from headway.shell.kube import Kube, KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import OUT, WF, Cluster, create, jobs_of, start, wait_phase

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
RUNS = 24
SOAK_SECONDS = float(os.environ.get("HEADWAY_SOAK_SECONDS", "60"))
POD_DELETIONS = 4


def random_dag(rng: random.Random, size: int) -> list[JSON]:
    tasks: list[JSON] = []
    for i in range(size):
        parents = sorted({f"t{rng.randrange(i)}" for _ in range(rng.randint(0, 2))}) if i else []
        tasks.append(
            {
                "name": f"t{i}",
                "dependencies": parents,
                "command": [
                    "sh",
                    "-c",
                    f"sleep {rng.choice([0.2, 0.5, 1, 2, 4])}; "
                    f'echo "{{\\"t\\": \\"t{i}\\", \\"in\\": $HEADWAY_INPUTS}}" > {OUT}',
                ],
            }
        )
    return tasks


class Load:
    """Other work on the same control plane and operator, in its own namespace, for as
    long as the soak lasts: small runs started one after another, and ConfigMaps written
    and deleted. Bounded: it stops when told, or after ``limit`` seconds."""

    def __init__(self, kube: Kube, namespace: str, limit: float) -> None:
        self.kube, self.namespace, self.limit = kube, namespace, limit
        self.stop = threading.Event()
        self.runs = 0
        self.writes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        create(self.kube, self.namespace, {
            "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "load"},
            "spec": {"taskDefaults": {"image": "python:3.12-slim"}, "tasks": [
                {"name": f"s{i}", "dependencies": [f"s{i - 1}"] if i else [],
                 "command": ["sh", "-c", f'echo "{{}}" > {OUT}']} for i in range(3)
            ]},
        })  # fmt: skip
        maps = path_of("v1", "configmaps", self.namespace)
        next_run = 0.0
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if time.monotonic() >= next_run:
                    create(self.kube, self.namespace, {
                        "apiVersion": WF, "kind": "Execution",
                        "metadata": {"name": f"load-{self.runs}"},
                        "spec": {"workflowRef": {"name": "load"}},
                    })  # fmt: skip
                    self.runs += 1
                    next_run = time.monotonic() + 2
                name = f"churn-{self.writes % 20}"
                self.kube.delete(f"{maps}/{name}")
                self.kube.create(
                    maps, {"metadata": {"name": name}, "data": {"n": str(self.writes)}}
                )
                self.writes += 1
            except KubeError:
                pass  # the webhook is down while the operator is: load goes on regardless
            self.stop.wait(0.05)


@pytest.fixture
def load(cluster: Cluster) -> Iterator[Load]:
    namespace = f"soak-load-{secrets.token_hex(3)}"
    cluster.kube.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    running = Load(cluster.kube, namespace, limit=SOAK_SECONDS + 120)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        running.thread.join(timeout=30)
        cluster.kube.delete(f"/api/v1/namespaces/{namespace}")


def delete_a_running_pod(kube: Kube, namespace: str, rng: random.Random) -> tuple[str, ...] | None:
    """Delete one running task pod (gracefully, as a person would); return its Execution,
    task and attempt, the attempt whose stall this test may then see."""
    pods = kube.get(path_of("v1", "pods", namespace), labelSelector="headway.dev/task")["items"]
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp")]  # fmt: skip
    if not running:
        return None
    pod = rng.choice(running)
    labels = pod["metadata"]["labels"]
    kube.delete(path_of("v1", "pods", namespace, pod["metadata"]["name"]))
    return (
        labels["headway.dev/execution"],
        labels["headway.dev/task"],
        labels["headway.dev/attempt"],
    )


def test_operator_killed_again_and_again_under_load_launches_nothing_twice_and_loses_nothing(
    cluster: Cluster, operator: ChartOperator, namespace: str, load: Load
) -> None:
    seed = int(os.environ.get("HEADWAY_SOAK_SEED") or time.time())
    rng = random.Random(seed)
    runs = {f"soak{n}": random_dag(rng, rng.randint(2, 5)) for n in range(RUNS)}
    waiting = list(runs.items())
    deleted: set[tuple[str, ...]] = set()
    kills, began = 0, time.monotonic()
    while time.monotonic() - began < SOAK_SECONDS:
        for name, tasks in waiting[:3]:
            start(cluster, namespace, name, tasks)
        del waiting[:3]
        time.sleep(rng.uniform(0.5, 4))  # the fault schedule, not a wait for a condition
        if len(deleted) < POD_DELETIONS and rng.random() < 0.4:
            victim = delete_a_running_pod(cluster.kube, namespace, rng)
            if victim:
                deleted.add(victim)
        operator.kill()
        kills += 1
        operator.start()
    for name, tasks in waiting:
        start(cluster, namespace, name, tasks)
    stalls = 0
    for name, tasks in runs.items():
        execution = f"{name}-1"
        where = f"seed {seed}: {execution}"
        done = wait_phase(cluster.kube, namespace, execution, "Succeeded", "Failed", "Blocked",
                          timeout=300)  # fmt: skip
        status = done["status"]
        assert status["phase"] == "Succeeded", f"{where}: {status}"
        attempts_with_jobs = collections.defaultdict(list)
        for job in jobs_of(cluster.kube, namespace, execution):
            labels = job["metadata"]["labels"]
            attempts_with_jobs[labels["headway.dev/task"]].append(
                int(labels["headway.dev/attempt"])
            )
        for task in tasks:
            state = status["tasks"][task["name"]]
            expected_inputs = {p: status["tasks"][p]["outputs"] for p in task["dependencies"]}
            assert state["outputs"] == {"t": task["name"], "in": expected_inputs}, where
            # No Job the status does not count (a stalled attempt's Job is deleted, so only
            # the last one must be there), and a new attempt only after a stall the history
            # explains.
            seen = sorted(attempts_with_jobs[task["name"]])
            assert seen and seen[-1] == state["attempts"], (
                f"{where}: {task['name']}: {seen} {state}"
            )
            assert state["attempts"] == 1 + state.get("autoRecoveries", 0), f"{where}: {state}"
        for entry in status["history"]:
            if entry["event"] != "AutoRecovered":
                continue
            stalls += 1
            attempt = (execution, entry["task"], str(entry["attempt"]))
            assert attempt in deleted, f"{where}: a stall nobody caused: {entry}"
            assert "a direct read found" in entry["message"], f"{where}: no evidence: {entry}"
    # A kill and a restart (helm upgrade, replicas Ready) take some seconds themselves.
    assert kills >= SOAK_SECONDS / 10 and load.runs > 0
    print(
        f"kill soak: seed {seed}, {kills} kills in {time.monotonic() - began:.0f}s, "
        f"{len(runs)} runs, {len(deleted)} pods deleted, {stalls} stalls, "
        f"load: {load.runs} runs and {load.writes} writes in another namespace"
    )
