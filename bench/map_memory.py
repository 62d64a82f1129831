"""The operator's memory for a map of N items, modelled in a fresh process: one real
item Job and pod (as the local cluster left them) copied N times under new names, fed to
the operator's own cache as its watches would feed them, and an N-item status parsed and
planned once, as after a restart. Printed: the RSS this adds to the process, in MB.

Used by ``engine.py`` where the cluster cannot run N pods (the local cluster's kubelets
start about 7 pods a second and its API server gives out past about 7,500): the figure
beside the measured idle RSS says what N items cost, from the same objects."""

from __future__ import annotations

import copy
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from headway.core import items
from headway.core.decide import decide
from headway.core.spec import outputs_limit
from headway.handlers.reconcile import load_view
from headway.models.execution import ExecutionStatus, TaskStatus
from headway.models.workflow import WorkflowSpec
from headway.runtime.cache import Cache, slim
from headway.runtime.memory import Memory

JSON = dict[str, Any]
UID = "0b6e1f9e-0000-4000-8000-000000000001"
KEY = ("bench", "exe")
NOW = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Shelf(dict[Any, list[JSON]]):
    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, default if default is not None else [])


def renamed(obj: JSON, old: str, new: str) -> JSON:
    """A copy of ``obj`` for another item: every text naming the old Job names the new."""
    return json.loads(json.dumps(obj).replace(old, new))  # type: ignore[no-any-return]


def model(job: JSON, pod: JSON, count: int) -> float:
    before = rss_mb()
    name = job["metadata"]["name"]
    workflow = WorkflowSpec.model_validate(
        {"taskDefaults": {"image": "bench", "command": ["true"]},
         "tasks": [{"name": "m", "map": {"items": list(range(count))}}]}
    )  # fmt: skip
    state = items.expand(None, [items.item_key("b", i, i) for i in range(count)])
    for i in range(count):
        items.put_item(state, i, TaskStatus(phase="Succeeded", attempts=1, outputs={"n": i}))
    status = ExecutionStatus(
        phase="Running", workflow=workflow, params={}, outputs_limit=outputs_limit(workflow)
    )
    status.tasks["m"] = TaskStatus(phase="Running", attempts=1, map=state, started_at=NOW)
    execution = {
        "apiVersion": "headway.dev/v1alpha1", "kind": "Execution",
        "metadata": {"name": "exe", "namespace": "bench", "uid": UID, "resourceVersion": "7",
                     "generation": 1},
        "spec": {"workflow": workflow.wire()},
        "status": json.loads(json.dumps(status.wire())),
    }  # fmt: skip
    del status, state
    cache = Cache()
    cache.bind(executions=Shelf({KEY: [execution]}), requests=Shelf())
    for i in range(count):
        fresh = f"exe-m-{i}-1"
        cache.saw_job(UID, slim(renamed(job, name, fresh)))
        cache.saw_pod(UID, slim(renamed(pod, name, fresh)))
    memory = Memory()
    shot = cache.snapshot(KEY, since=memory.seq_of)
    assert shot is not None
    view, _ = load_view(None, shot, None, memory)
    decide(view, NOW)
    return rss_mb() - before


if __name__ == "__main__":
    sample = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps({"mb": model(copy.deepcopy(sample["job"]), sample["pod"], int(sys.argv[2]))}))
