"""``make bench``: Headway's speed and memory on the local cluster, each figure beside a
floor measured in the same run, on the same machine.

- hop: a task's pod terminated -> the next task's Job created (p50, p90); floor: a bare
  controller (a plain watch and a create, no engine) reacting to the same pod event;
- chain of 20 trivial tasks, created -> done; floor: the bare controller's chain;
- fan-out of 300 trivial tasks, created -> all done, and the Job create rate; floor: 300
  Jobs created directly, all pods done;
- API requests per task attempt, the operator's own (watches excepted), counted by the
  API server: the operator runs as its own ServiceAccount, matched by a FlowSchema of
  its own, whose dispatched-requests counter is read before and after;
- operator RSS idle and with 2,000 tasks tracked;
- reconcile CPU per event at 10 / 100 / 1,000 tasks (the operator's own reconcile code,
  one task attempt ending per event), to show the cost is not quadratic;
- a map of 10,000 trivial items (``HEADWAY_BENCH_ITEMS``), Execution created -> Succeeded;
  floor: 10,000 Jobs created directly, all pods done; beside it the Execution object's
  size at the end and the operator's peak RSS;
- reconcile CPU per item completion at 100 / 1,000 / 10,000 items (taking what the cache
  shows included), to show it does not grow with the map.

Times are taken where both sides are seen alike: by one watcher of this process, at the
moment each event arrives. Targets are checked here, never in timed tests. Results are
printed as a table and written as JSON to ``.cluster/bench/results.json``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from headway.shell.install import install_crds
from headway.shell.kube import Kube, KubeError, path_of
from localcluster import cluster
from localcluster.layout import Layout
from localcluster.operator import OperatorProcess

JSON = dict[str, Any]
WF = "headway.dev/v1alpha1"
SYSTEM = "headway-bench"
OPERATOR_SA = "headway-operator"
FLOW_SCHEMA = "headway-bench-operator"
OUT = '"$HEADWAY_OUTPUTS_FILE"'
TRIVIAL = ["sh", "-c", f"echo '{{}}' > {OUT}"]
ITEMS = int(os.environ.get("HEADWAY_BENCH_ITEMS", "10000"))  # the map's size
ONLY = os.environ.get("HEADWAY_BENCH_ONLY", "")  # "map": only the map's figures
WEBHOOK_PORT = 19543


# --- watching -------------------------------------------------------------------------------


@dataclass
class Seen:
    """When this process first saw each thing happen (monotonic seconds)."""

    job_added: dict[str, float] = field(default_factory=dict)
    pod_ended: dict[str, float] = field(default_factory=dict)  # by Job name
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out waiting for {what}")
                self.changed.wait(min(left, 1.0))


def _ended(pod: JSON) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any("terminated" in (s.get("state") or {}) for s in statuses)


def _watch(
    kube: Kube, path: str, handle: Callable[[str, JSON], None], stop: threading.Event
) -> None:
    version = kube.get(path)["metadata"]["resourceVersion"]
    while not stop.is_set():
        try:
            for event in kube.watch(path, timeout_seconds=30, resourceVersion=version):
                obj = event["object"]
                version = obj["metadata"].get("resourceVersion", version)
                if event["type"] != "BOOKMARK":
                    handle(event["type"], obj)
                if stop.is_set():
                    return
        except KubeError:
            time.sleep(0.2)


@contextlib.contextmanager
def watching(kube: Kube, namespace: str) -> Iterator[Seen]:
    seen, stop = Seen(), threading.Event()

    def on_job(kind: str, job: JSON) -> None:
        with seen.changed:
            if kind == "ADDED":
                seen.job_added.setdefault(job["metadata"]["name"], time.monotonic())
            seen.changed.notify_all()

    def on_pod(_kind: str, pod: JSON) -> None:
        job = (pod["metadata"].get("labels") or {}).get("job-name")
        with seen.changed:
            if job and _ended(pod):
                seen.pod_ended.setdefault(job, time.monotonic())
            seen.changed.notify_all()

    threads = [
        threading.Thread(target=_watch, args=(kube, path_of(*p, namespace), h, stop), daemon=True)
        for p, h in ((("batch/v1", "jobs"), on_job), (("v1", "pods"), on_pod))
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # let both watches open before anything is created
    try:
        yield seen
    finally:
        stop.set()


def chain_timing(
    seen: Seen, started: float, job: Callable[[int], str], length: int
) -> tuple[list[float], float]:
    """Wait for the chain's last pod to end: each hop (pod k ended -> Job k+1 seen) and
    the total since ``started``, alike for the floor and for Headway."""
    last = job(length - 1)
    seen.wait(lambda: last in seen.pod_ended, f"the chain ending with {last}")
    hops = [seen.job_added[job(k + 1)] - seen.pod_ended[job(k)] for k in range(length - 1)]
    return hops, seen.pod_ended[last] - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the floor: a bare controller -----------------------------------------------------------


def bare_job(name: str) -> JSON:
    return {
        "metadata": {"name": name, "labels": {"headway.dev/bench": "floor"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"headway.dev/bench": "floor"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "bench", "command": TRIVIAL}],
                },
            },
        },
    }


def floor_chain(kube: Kube, namespace: str, length: int) -> tuple[list[float], float]:
    """A bare controller: on the pod of Job k ending, create Job k+1. Hops and total."""
    jobs = path_of("batch/v1", "jobs", namespace)
    stop = threading.Event()
    created = {0}

    def react(_kind: str, pod: JSON) -> None:
        job = (pod["metadata"].get("labels") or {}).get("job-name", "")
        if not job.startswith("floor-") or not _ended(pod):
            return
        nxt = int(job.split("-")[1]) + 1
        if nxt < length and nxt not in created:
            created.add(nxt)
            kube.create(jobs, bare_job(f"floor-{nxt}"))

    with watching(kube, namespace) as seen:
        controller = threading.Thread(
            target=_watch, args=(Kube(kube_path()), path_of("v1", "pods", namespace), react, stop)
        )
        controller.daemon = True
        controller.start()
        time.sleep(0.5)
        started = time.monotonic()
        kube.create(jobs, bare_job("floor-0"))
        hops, total = chain_timing(seen, started, lambda k: f"floor-{k}", length)
    stop.set()
    return hops, total


def floor_fanout(kube: Kube, namespace: str, width: int) -> tuple[float, float]:
    """``width`` Jobs created directly, one client as fast as it goes: total, create rate."""
    jobs = path_of("batch/v1", "jobs", namespace)
    with watching(kube, namespace) as seen:
        started = time.monotonic()
        for i in range(width):
            kube.create(jobs, bare_job(f"fan-{i}"))
        seen.wait(lambda: len(seen.pod_ended) >= width, "the floor fan-out",
                  timeout=max(1800, width))  # fmt: skip
        total = max(seen.pod_ended.values()) - started
        spread = max(seen.job_added.values()) - min(seen.job_added.values())
    return total, width / spread if spread > 0 else float("inf")


# --- Headway --------------------------------------------------------------------------------


def kube_path() -> str:
    return str(Layout.default().kubeconfig)


def workflow_run(kube: Kube, namespace: str, name: str, tasks: list[JSON], **spec: Any) -> None:
    kube.create(
        path_of(WF, "workflows", namespace),
        {
            "apiVersion": WF,
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {"taskDefaults": {"image": "bench", "command": TRIVIAL}, "tasks": tasks},
        },
    )
    kube.create(
        path_of(WF, "executions", namespace),
        {
            "apiVersion": WF,
            "kind": "Execution",
            "metadata": {"name": f"{name}-1"},
            "spec": {"workflowRef": {"name": name}, **spec},
        },
    )


def wait_done(
    kube: Kube, namespace: str, name: str, timeout: float = 1800, every: float = 0.05
) -> float:
    """Wait until the Execution has stopped; the monotonic time it was seen so."""
    path = path_of(WF, "executions", namespace, f"{name}-1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = (kube.get(path).get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Blocked"):
            if phase != "Succeeded":
                raise RuntimeError(f"{name} ended {phase}")
            return time.monotonic()
        time.sleep(every)
    raise TimeoutError(f"{name} did not finish")


def headway_chain(kube: Kube, namespace: str, length: int) -> tuple[list[float], float]:
    tasks = [{"name": f"t{i}", "dependencies": [f"t{i - 1}"] if i else []} for i in range(length)]
    with watching(kube, namespace) as seen:
        started = time.monotonic()
        workflow_run(kube, namespace, "chain", tasks)
        hops, total = chain_timing(seen, started, lambda k: f"chain-1-t{k}-1", length)
    wait_done(kube, namespace, "chain")
    return hops, total


def headway_fanout(kube: Kube, namespace: str, width: int) -> tuple[float, float]:
    tasks = [{"name": f"t{i}"} for i in range(width)]
    with watching(kube, namespace) as seen:
        started = time.monotonic()
        workflow_run(kube, namespace, "fan", tasks)
        seen.wait(lambda: len(seen.pod_ended) >= width, "the Headway fan-out", timeout=1800)
        total = max(seen.pod_ended.values()) - started
        spread = max(seen.job_added.values()) - min(seen.job_added.values())
    wait_done(kube, namespace, "fan")
    return total, width / spread if spread > 0 else float("inf")


def headway_map(
    kube: Kube, namespace: str, count: int, operator: OperatorProcess
) -> tuple[float, int, float]:
    """A map of ``count`` trivial items: created -> Succeeded, the Execution's size then
    (bytes, as the API server returns it), and the operator's peak RSS meanwhile."""
    peak = [operator_rss(operator)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            peak.append(operator_rss(operator))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = time.monotonic()
        workflow_run(
            kube, namespace, "map", [{"name": "each", "map": {"items": list(range(count))}}]
        )
        done = wait_done(kube, namespace, "map", timeout=4 * 3600, every=1.0)
    finally:
        stop.set()
        sampler.join()
    obj = kube.get(path_of(WF, "executions", namespace, "map-1"))
    return done - started, len(json.dumps(obj, separators=(",", ":"))), max(peak)


def items_memory(kube: Kube, namespace: str, count: int) -> float:
    """MB the operator's memory grows by for ``count`` items, modelled (map_memory.py)
    from one item's Job and pod as the map just run left them: the figure for a map
    larger than the local cluster can run."""
    jobs = kube.get(path_of("batch/v1", "jobs", namespace), labelSelector="headway.dev/item")
    job = jobs["items"][0]
    selector = f"batch.kubernetes.io/job-name={job['metadata']['name']}"
    [pod] = kube.get(path_of("v1", "pods", namespace), labelSelector=selector)["items"]
    sample = Path(".cluster/bench/item-sample.json")
    sample.parent.mkdir(parents=True, exist_ok=True)
    sample.write_text(json.dumps({"job": job, "pod": pod}))
    script = Path(__file__).with_name("map_memory.py")
    done = subprocess.run(
        [sys.executable, str(script), str(sample), str(count)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(json.loads(done.stdout)["mb"])


# --- the operator under its own identity ----------------------------------------------------


def operator_identity(kube: Kube, layout: Layout) -> Path:
    """A ServiceAccount for the operator (bound to cluster-admin: the bench measures speed,
    not permissions), a FlowSchema that counts its requests, and a kubeconfig for it."""
    with contextlib.suppress(KubeError):
        kube.create("/api/v1/namespaces", {"metadata": {"name": SYSTEM}})
    with contextlib.suppress(KubeError):
        kube.create(path_of("v1", "serviceaccounts", SYSTEM), {"metadata": {"name": OPERATOR_SA}})
    with contextlib.suppress(KubeError):
        kube.create(
            path_of("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
            {
                "metadata": {"name": "headway-bench-operator"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": SYSTEM}],
            },
        )
    everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": True}
    with contextlib.suppress(KubeError):
        kube.create(
            "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
            {
                "metadata": {"name": FLOW_SCHEMA},
                "spec": {
                    "priorityLevelConfiguration": {"name": "workload-high"},
                    "matchingPrecedence": 100,
                    "rules": [
                        {
                            "subjects": [
                                {
                                    "kind": "ServiceAccount",
                                    "serviceAccount": {"name": OPERATOR_SA, "namespace": SYSTEM},
                                }
                            ],
                            "resourceRules": [{**everything, "namespaces": ["*"]}],
                            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                        }
                    ],
                },
            },
        )
    token = kube.create(
        path_of("v1", "serviceaccounts", SYSTEM, OPERATOR_SA) + "/token",
        {"spec": {"expirationSeconds": 7200}},
    )["status"]["token"]
    admin = yaml.safe_load(layout.kubeconfig.read_text())
    admin["users"] = [{"name": "operator", "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = "operator"
    path = layout.root / "bench" / "operator.kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(admin))
    path.chmod(0o600)
    return path


def operator_requests(kube: Kube) -> tuple[float, float]:
    """(all, watches) requests the API server dispatched for the operator's FlowSchema."""
    text = kube.get_text("/metrics")
    total = watches = 0.0
    for line in text.splitlines():
        if f'flow_schema="{FLOW_SCHEMA}"' not in line or line.startswith("#"):
            continue
        if line.startswith("apiserver_flowcontrol_dispatched_requests_total"):
            total += float(line.rsplit(" ", 1)[1])
        if line.startswith("apiserver_flowcontrol_watch_count_samples_count"):
            watches += float(line.rsplit(" ", 1)[1])
    return total, watches


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def operator_rss(process: OperatorProcess) -> float:
    """RSS of the operator's Python process (the group leader)."""
    assert process.process is not None
    return rss_mb(process.process.pid)


# --- reconcile CPU per event ------------------------------------------------------------------


def reconcile_cpu_per_event(sizes: tuple[int, ...]) -> dict[int, float]:
    """Thread CPU seconds the operator's reconcile code spends on one event (one task
    attempt ending) of an Execution of N independent tasks, half of them done, per N."""
    from reconcile_cost import least_costs

    return least_costs(sizes)


def reconcile_cpu_per_item(sizes: tuple[int, ...]) -> dict[int, float]:
    """The same, for one map task of N items, one item ending per event."""
    from reconcile_cost import least_costs

    return least_costs(sizes, repeats=3, of_items=True)


# --- the run ----------------------------------------------------------------------------------


CREATED: list[str] = []


def fresh_namespace(kube: Kube, stem: str) -> str:
    name = f"bench-{stem}-{int(time.time())}"
    kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    CREATED.append(name)
    return name


def clean_up(kube: Kube, wait: bool = False) -> None:
    """Delete what the run created so far; with ``wait``, until it is gone, so the next
    figure is taken on a cluster as quiet as the one before it."""
    for name in CREATED:
        with contextlib.suppress(KubeError):
            kube.delete(f"/api/v1/namespaces/{name}")
    deadline = time.monotonic() + 600
    while wait and time.monotonic() < deadline:
        if all(kube.find(f"/api/v1/namespaces/{name}") is None for name in CREATED):
            break
        time.sleep(1)
    CREATED.clear()


@dataclass
class Row:
    figure: str
    headway: float
    floor: float | None
    unit: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> str:
        if self.floor in (None, 0):
            return ""
        return f"{self.headway / self.floor:.2f}x"


CHART_OPERATOR = path_of("apps/v1", "deployments", "headway-system", "headway-operator")


def pause_chart_operator(admin: Kube) -> int:
    """The chart's operator (``make demo`` leaves one) would reconcile too: scaled to
    zero for the run; returns its replica count, to restore."""
    deployment = admin.find(CHART_OPERATOR)
    if deployment is None:
        return 0
    replicas = int(deployment["spec"].get("replicas") or 0)
    admin.patch(CHART_OPERATOR, {"spec": {"replicas": 0}})
    pods = path_of("v1", "pods", "headway-system")
    selector = "app.kubernetes.io/component=operator"
    deadline = time.monotonic() + 120
    while admin.get(pods, labelSelector=selector)["items"] and time.monotonic() < deadline:
        time.sleep(0.5)
    return replicas


CHART_WEBHOOKS = [
    path_of("admissionregistration.k8s.io/v1", plural, None, "headway")
    for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
]


def set_aside_chart_webhooks(admin: Kube) -> list[JSON]:
    """The paused chart operator's webhook configurations: some fail closed (defining a
    Workflow needs them), so they are taken away for the run and put back afterwards;
    the benchmark's own operator serves its own."""
    saved = []
    for path in CHART_WEBHOOKS:
        found = admin.find(path)
        if found is not None:
            meta = {k: v for k, v in found["metadata"].items()
                    if k in ("name", "labels", "annotations")}  # fmt: skip
            saved.append({**found, "metadata": meta})
            admin.delete(path)
    return saved


def restore_chart_webhooks(admin: Kube, saved: list[JSON]) -> None:
    for config in saved:
        plural = config["kind"].lower() + "s"
        admin.create(path_of("admissionregistration.k8s.io/v1", plural), config)


def engine_rows(admin: Kube, operator: OperatorProcess) -> list[Row]:
    """Hop, chain, fan-out, API requests, RSS and reconcile CPU per event, each beside
    its floor."""
    time.sleep(5)  # settle: the start-up listing is not the idle figure
    idle_rss = operator_rss(operator)

    # What one Execution costs whatever its size (created, started, finished): taken
    # off below, so the figures are per task attempt in steady state.
    before, _ = operator_requests(admin)
    headway_chain(admin, fresh_namespace(admin, "one"), 1)
    fixed = operator_requests(admin)[0] - before

    floor_hops, floor_total = floor_chain(admin, fresh_namespace(admin, "floor"), 20)
    before, _ = operator_requests(admin)
    hops, chain_total = headway_chain(admin, fresh_namespace(admin, "chain"), 20)
    chain_requests = (operator_requests(admin)[0] - before - fixed) / 19

    clean_up(admin, wait=True)
    floor_fan, floor_rate = floor_fanout(admin, fresh_namespace(admin, "floorfan"), 300)
    clean_up(admin, wait=True)
    before, _ = operator_requests(admin)
    fan_total, fan_rate = headway_fanout(admin, fresh_namespace(admin, "fan"), 300)
    fan_requests = (operator_requests(admin)[0] - before - fixed) / 299
    clean_up(admin, wait=True)

    tracked = fresh_namespace(admin, "rss")
    for n in range(4):
        tasks: list[JSON] = [{"name": "gate", "image": "registry.invalid/never:1"}]
        tasks += [{"name": f"t{i}", "dependencies": ["gate"]} for i in range(499)]
        workflow_run(admin, tracked, f"big{n}", tasks, autoRecovery={"stallTimeoutSeconds": 3600})
    path = path_of(WF, "executions", tracked)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = admin.get(path)["items"]
        if len([i for i in items if (i.get("status") or {}).get("phase") == "Running"]) == 4:
            break
        time.sleep(0.5)
    time.sleep(5)
    tracked_rss = operator_rss(operator)

    clean_up(admin, wait=True)  # the CPU figures are taken on a quiet machine
    cpu = reconcile_cpu_per_event((10, 100, 1000))
    p50, p90 = statistics.median(hops), percentile(hops, 0.9)
    f50, f90 = statistics.median(floor_hops), percentile(floor_hops, 0.9)
    return [
        Row("hop p50", p50 * 1000, f50 * 1000, "ms", "<= 3x floor", p50 <= 3 * f50),
        Row("hop p90", p90 * 1000, f90 * 1000, "ms", "", None),
        Row(
            "chain of 20, total",
            chain_total,
            floor_total,
            "s",
            "<= 1.5x floor",
            chain_total <= 1.5 * floor_total,
        ),
        Row(
            "fan-out of 300, total",
            fan_total,
            floor_fan,
            "s",
            "<= 1.3x floor",
            fan_total <= 1.3 * floor_fan,
        ),
        Row("fan-out Job create rate", fan_rate, floor_rate, "Jobs/s", "", None),
        Row(
            "API requests per attempt (chain)",
            chain_requests,
            1.0,
            "req",
            "<= 4",
            chain_requests <= 4,
        ),
        Row(
            "API requests per attempt (fan-out)",
            fan_requests,
            1.0,
            "req",
            "<= 4",
            fan_requests <= 4,
        ),
        Row("API requests, a whole 1-task Execution", fixed, None, "req", "", None),
        Row("operator RSS idle", idle_rss, None, "MB", "", None),
        Row(
            "operator RSS, 2,000 tasks tracked",
            tracked_rss,
            None,
            "MB",
            "<= 200 MB",
            tracked_rss <= 200,
        ),
        Row("reconcile CPU per event, 10 tasks", cpu[10] * 1000, None, "ms", "", None),
        Row("reconcile CPU per event, 100 tasks", cpu[100] * 1000, None, "ms", "", None),
        Row(
            "reconcile CPU per event, 1,000 tasks",
            cpu[1000] * 1000,
            cpu[100] * 1000,
            "ms",
            "<= 3x at 100 tasks",
            cpu[1000] <= 3 * cpu[100],
        ),
    ]


def map_rows(admin: Kube, operator: OperatorProcess) -> list[Row]:
    """A map of ITEMS items beside as many Jobs created directly; its Execution's size,
    the operator's peak RSS, and reconcile CPU per item completion."""
    per_item = reconcile_cpu_per_item((100, 1000, 10_000))
    before_rss = operator_rss(operator)

    floor_items, _rate = floor_fanout(admin, fresh_namespace(admin, "flooritems"), ITEMS)
    clean_up(admin, wait=True)
    map_namespace = fresh_namespace(admin, "map")
    map_total, map_bytes, map_rss = headway_map(admin, map_namespace, ITEMS, operator)
    modelled = before_rss + items_memory(admin, map_namespace, 10_000)

    return [
        Row(
            f"map of {ITEMS:,} items, total",
            map_total,
            floor_items,
            "s",
            "<= 1.3x floor",
            map_total <= 1.3 * floor_items,
        ),
        Row(
            f"Execution object, {ITEMS:,}-item map done",
            map_bytes / 1024,
            None,
            "KiB",
            "< 1 MiB",
            map_bytes < 2**20,
        ),
        Row(
            f"operator RSS peak, {ITEMS:,}-item map",
            map_rss,
            None,
            "MB",
            "< 300 MB",
            map_rss < 300,
        ),
        Row(
            "operator RSS, 10,000 items (model)",
            modelled,
            None,
            "MB",
            "< 300 MB",
            modelled < 300,
        ),
        Row("reconcile CPU per item completion, 100", per_item[100] * 1000, None, "ms", "", None),
        Row(
            "reconcile CPU per item completion, 1,000",
            per_item[1000] * 1000,
            None,
            "ms",
            "",
            None,
        ),
        Row(
            "reconcile CPU per item completion, 10,000",
            per_item[10_000] * 1000,
            per_item[100] * 1000,
            "ms",
            "<= 3x at 100 items",
            per_item[10_000] <= 3 * per_item[100],
        ),
    ]


def main() -> int:
    layout = Layout.default()
    cluster.up(layout)
    admin = Kube(layout.kubeconfig)
    install_crds(admin)
    chart_replicas = pause_chart_operator(admin)
    chart_webhooks = set_aside_chart_webhooks(admin)
    operator = OperatorProcess(
        operator_identity(admin, layout), layout.root / "bench" / "operator.log", WEBHOOK_PORT
    )
    operator.start()
    rows: list[Row] = []
    try:
        if ONLY != "map":
            rows += engine_rows(admin, operator)
        rows += map_rows(admin, operator)
    finally:
        operator.stop()
        operator.remove_webhooks()  # they fail closed: no Execution update may need them
        clean_up(admin)
        restore_chart_webhooks(admin, chart_webhooks)
        if chart_replicas:
            admin.patch(CHART_OPERATOR, {"spec": {"replicas": chart_replicas}})
    report(rows)
    return 0 if all(r.met is not False for r in rows) else 1


def report(rows: list[Row]) -> None:
    machine = f"{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, " + (
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}"
    )
    print(
        f"\nHeadway benchmarks — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}Z, {machine}"
    )
    header = f"{'figure':40} {'Headway':>10} {'floor':>10} {'ratio':>7}  {'target':20} met"
    print(header)
    print("-" * len(header))
    for r in rows:
        floor = f"{r.floor:10.2f}" if r.floor is not None else " " * 10
        met = {True: "yes", False: "NO", None: ""}[r.met]
        print(
            f"{r.figure:40} {r.headway:10.2f} {floor} {r.ratio:>7}  {r.target:20} {met}  {r.unit}"
        )
    out = Layout.default().root / "bench" / "results.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "rows": [
                    {
                        "figure": r.figure,
                        "headway": r.headway,
                        "floor": r.floor,
                        "unit": r.unit,
                        "target": r.target,
                        "met": r.met,
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
    )
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    sys.exit(main())
