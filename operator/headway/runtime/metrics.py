"""Prometheus metrics and the health probes, served on one plain-HTTP port.

``/metrics``: executions and tasks by phase (read from the watch cache at scrape time),
task attempts, stalls, recoveries by mode and phase, reconcile duration, queue depth and
latency, and whether this replica leads. ``/healthz``: the process and its event loop
answer. ``/readyz``: the caches hold the initial state and, when the operator serves
webhooks, their certificate is loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Counts
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from headway.core.tally import Tally

log = logging.getLogger("headway.metrics")
Executions = Callable[[], Iterable[Mapping[str, Any]]]


class Metrics:
    """Every metric the operator exports, in a registry of its own."""

    def __init__(self, executions: Executions) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "headway_task_attempts", "Task attempts launched (Jobs created).", registry=r
        )
        self.stalls = Counter(
            "headway_task_stalls", "Task attempts the engine lost and restarted or blocked.",
            registry=r,
        )  # fmt: skip
        self.recoveries = Counter(
            "headway_recoveries",
            "RecoveryRequests that reached a phase, by mode and phase.",
            ["mode", "phase"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "headway_reconcile_duration_seconds",
            "One reconcile of one Execution: decide, create Jobs, write status.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.queue_depth = Gauge(
            "headway_queue_depth", "Executions waiting in the work queue.", registry=r
        )
        self.queue_latency = Histogram(
            "headway_queue_latency_seconds",
            "From an Execution's event to the start of its reconcile.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.leader = Gauge("headway_leader", "1 while this replica reconciles.", registry=r)
        r.register(_Phases(executions))

    def count(self, tally: Tally) -> None:
        if tally.attempts:
            self.attempts.inc(tally.attempts)
        if tally.stalls:
            self.stalls.inc(tally.stalls)
        for (mode, phase), n in tally.recoveries.items():
            self.recoveries.labels(mode=mode, phase=phase).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Phases(Collector):
    """Executions and tasks by phase, counted from the cache when scraped."""

    def __init__(self, executions: Executions) -> None:
        self._executions = executions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs: Counts[tuple[str, str]] = Counts()
        tasks: Counts[tuple[str, str]] = Counts()
        for execution in self._executions():
            namespace = str(execution["metadata"].get("namespace", ""))
            status = execution.get("status") or {}
            runs[(namespace, str(status.get("phase") or "Pending"))] += 1
            for task in (status.get("tasks") or {}).values():
                tasks[(namespace, str(task.get("phase") or "Pending"))] += 1
        for name, doc, counts in (
            ("headway_executions", "Executions by namespace and phase.", runs),
            ("headway_tasks", "Tasks of all Executions by namespace and phase.", tasks),
        ):
            family = GaugeMetricFamily(name, doc, labels=["namespace", "phase"])
            for (namespace, phase), n in sorted(counts.items()):
                family.add_metric([namespace, phase], n)
            yield family


class Health:
    """What ``/readyz`` waits for; each flag is set once, by whoever knows."""

    def __init__(self, needs_webhook: bool) -> None:
        self.synced = asyncio.Event()  # the caches hold the initial state
        self.webhook_ready = asyncio.Event()
        if not needs_webhook:
            self.webhook_ready.set()

    def problems(self) -> list[str]:
        missing = []
        if not self.synced.is_set():
            missing.append("caches not synced")
        if not self.webhook_ready.is_set():
            missing.append("webhook certificate not loaded")
        return missing


async def serve(metrics: Metrics, health: Health, host: str, port: int) -> web.AppRunner:
    """Start the metrics and probe server; the caller cleans the runner up."""

    async def metrics_page(_: web.Request) -> web.Response:
        body = metrics.exposition()  # on the loop: the cache is only read from it
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        problems = health.problems()
        if problems:
            return web.Response(status=503, text="not ready: " + ", ".join(problems) + "\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or None, port).start()
    log.info("metrics and probes on %s:%d", host or "*", port)
    return runner
