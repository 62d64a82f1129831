"""The operator: kopf watches, our work queue reconciles.

kopf delivers watch events; the handlers here only route them to the queue
(no finalizers, no kopf state on our objects), so deleting an Execution never
waits for the operator. Every handler is ``async``: the queue lives on the event
loop and is only ever touched from it. Reconciliation runs in worker threads
with the blocking client; one Execution is never reconciled twice at once.
Shared state reaches handlers through kopf's ``memo``, never module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from headway.core.actions import Emit
from headway.core.cleanup import Cleanup
from headway.core.render import LABEL_EXECUTION_UID
from headway.handlers import admission
from headway.handlers.reconcile import (
    PagesMissing,
    post_events,
    reconcile_execution,
    reconcile_workflow,
    reject_orphan_request,
    request_target,
    utcnow,
)
from headway.handlers.schedules import reconcile_schedule
from headway.models.base import GROUP, VERSION
from headway.runtime.cache import Cache, slim
from headway.runtime.leader import Election, lead
from headway.runtime.memory import Memory
from headway.runtime.metrics import Health, Metrics, serve
from headway.runtime.queue import WorkQueue
from headway.shell import store
from headway.shell.kube import Kube, KubeError
from headway.shell.lease import LeaseClient

Key = tuple[str, str]  # namespace, name
JSON = dict[str, Any]
SCHEDULE_TICK = 5.0  # seconds between looks at the Schedules: a run starts this soon
PAGES_RETRY = datetime.timedelta(seconds=30)  # a missing OutputPage is looked for again
log = logging.getLogger("headway.operator")


@dataclass
class Operator:
    """State shared by the handlers: the client, the queue, the caches, the key that
    proves recorded identities, and the Events waiting to be posted."""

    kube: Kube
    audit_key: bytes | None = None
    cache: Cache = field(default_factory=Cache)
    keys: dict[str, Key] = field(default_factory=dict)  # Execution uid -> key
    memory: Memory = field(default_factory=Memory)
    queue: WorkQueue[Key] = field(init=False)
    events: asyncio.Queue[tuple[JSON, list[Emit]]] = field(default_factory=asyncio.Queue)
    resync: asyncio.Task[None] | None = None
    namespaces: list[str] = field(default_factory=list)  # watched; empty: all
    cleanup: Cleanup = field(default_factory=Cleanup)  # defaults for every Execution
    metrics: Metrics = field(init=False)
    health: Health = field(default_factory=lambda: Health(needs_webhook=False))

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.process)
        self.metrics = Metrics(self.cache.all_executions)
        self.metrics.queue_depth.set_function(self.queue.depth)
        self.queue.on_start = self.metrics.queue_latency.observe

    def lead(self) -> None:
        """This replica reconciles from now on: everything it knows, once, and the
        Workflows and requests whose events only a replica that did not lead has seen."""
        self.metrics.leader.set(1)
        for key in list(self.keys.values()):
            self.queue.add(key)
        self.queue.open.set()
        self.resync = asyncio.create_task(self.catch_up())

    async def close(self) -> None:
        """Stop what leading started and that outlives a pass (the catch-up)."""
        if self.resync is not None and not self.resync.done():
            self.resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.resync

    async def catch_up(self) -> None:
        try:
            workflows, requests = await asyncio.to_thread(store.list_all, self.kube)
        except KubeError as error:
            log.warning("could not list Workflows and requests on taking the lead: %s", error)
            return
        watched = set(self.namespaces)
        for workflow in workflows:
            if not watched or workflow["metadata"]["namespace"] in watched:
                with _logged("checking a Workflow"):
                    await asyncio.to_thread(reconcile_workflow, self.kube, workflow, self.audit_key)
        for request in requests:
            key = request_target(request)
            if key is None or (watched and key[0] not in watched) or self.cache.execution(key):
                continue
            with _logged("checking a request's Execution"):
                if await asyncio.to_thread(store.get_execution, self.kube, *key) is None:
                    await asyncio.to_thread(reject_orphan_request, self.kube, request, utcnow())

    @property
    def leading(self) -> bool:
        return self.queue.open.is_set()

    async def process(self, key: Key) -> datetime.datetime | None:
        """Snapshot the caches here, on the loop; decide and write in a worker thread;
        remember what was written; post the Events later."""
        snapshot = self.cache.snapshot(key, since=self.memory.seq_of)
        if snapshot is None:
            return None
        try:
            with self.metrics.reconcile_seconds.time():
                outcome = await asyncio.to_thread(
                    reconcile_execution,
                    self.kube,
                    snapshot,
                    self.audit_key,
                    self.memory,
                    defaults=self.cleanup,
                )
        except PagesMissing as missing:
            # Nothing is decided without every output; said on the Execution, tried again.
            log.warning("%s; looking again in %ss", missing, PAGES_RETRY.seconds)
            warning = Emit("Warning", "OutputsMissing", str(missing))
            self.events.put_nowait((snapshot.execution, [warning]))
            return utcnow() + PAGES_RETRY
        self.metrics.count(outcome.tally)
        self.cache.wrote(key, outcome.written, outcome.created)
        if outcome.events:
            self.events.put_nowait((outcome.written or snapshot.execution, outcome.events))
        return outcome.wake

    async def post_events(self) -> None:
        """Events go out here, after the status write and off the hot path: the next Job
        never waits for them."""
        while True:
            owner, events = await self.events.get()
            await asyncio.to_thread(post_events, self.kube, owner, events)


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """One step of a catch-up: an API error is logged and the next step goes on (the
    object's next event brings it back)."""
    try:
        yield
    except KubeError as error:
        log.warning("%s failed: %s", what, error)


class NoDiffBase(kopf.DiffBaseStorage):
    """Headway has no change handlers, so kopf needs no diff base: building one deep-copies
    every object on every event (a third of the operator's CPU on a busy cluster)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def of(memo: Any) -> Operator:
    operator: Operator = memo.operator
    return operator


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    # Headway's resources are known: no watch on CRDs (and no permission asked for it).
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING  # our own Events say what happened
    settings.watching.server_timeout = 300
    settings.persistence.diffbase_storage = NoDiffBase()
    # Only Headway's Jobs and pods are listed and watched, filtered by the API server.
    for resource in (("batch", "v1", "jobs"), ("", "v1", "pods")):
        settings.watching.label_selectors[resource] = LABEL_EXECUTION_UID


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """Credentials from the same configuration as our client (kubeconfig or in-cluster)."""
    configuration = of(memo).kube.api.configuration
    bearer = configuration.auth_settings().get("BearerToken") or {}
    authorization: str = bearer.get("value") or ""
    scheme, _sep, token = authorization.partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace="default",
    )


# --- the caches: kopf holds every other handler back until these hold the initial state ------


@kopf.index(GROUP, VERSION, "executions")
async def executions(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace or "", name): dict(body)}


@kopf.index(GROUP, VERSION, "executions")
async def waiting(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
    """Executions not started yet, by the Workflow they wait for."""
    if (body.get("status") or {}).get("workflow"):
        return {}
    ref = ((body.get("spec") or {}).get("workflowRef") or {}).get("name")
    return {(namespace or "", ref): (namespace or "", name)} if ref else {}


# Jobs and pods are indexed for kopf's promise (no handler runs before every index holds
# its initial listing); the cache keeps them itself, fed here with the same objects, with
# a log of what changed, so a pass is told what changed instead of comparing them all.
@kopf.index("batch", "v1", "jobs", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def jobs(body: kopf.Body, labels: Mapping[str, str], memo: kopf.Memo, **_: Any) -> JSON:
    job = slim(body)
    of(memo).cache.saw_job(labels[LABEL_EXECUTION_UID], job)
    return {labels[LABEL_EXECUTION_UID]: job}


@kopf.index("", "v1", "pods", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def pods(body: kopf.Body, labels: Mapping[str, str], memo: kopf.Memo, **_: Any) -> JSON:
    pod = slim(body)
    of(memo).cache.saw_pod(labels[LABEL_EXECUTION_UID], pod)
    return {labels[LABEL_EXECUTION_UID]: pod}


@kopf.index(GROUP, VERSION, "outputpages", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def pages(body: kopf.Body, labels: Mapping[str, str], **_: Any) -> JSON:
    """Pages of item outputs kept out of their Execution (read back when its status is)."""
    return {labels[LABEL_EXECUTION_UID]: {"spec": dict(body.get("spec") or {})}}


@kopf.index(GROUP, VERSION, "schedules")
async def schedules(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace or "", name): dict(body)}


@kopf.index(GROUP, VERSION, "recoveryrequests")
async def requests(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    target = request_target(body)
    return {target: dict(body)} if target else {}


def _operator(memo: Any, indexes: Mapping[str, Any]) -> Operator:
    """The operator, with kopf's indexes bound to its cache (the same objects throughout)."""
    operator = of(memo)
    if operator.cache.executions is None:
        operator.cache.bind(**{k: indexes[k] for k in INDEXES})
    # kopf holds every handler back until every index holds its kind's initial listing.
    operator.health.synced.set()
    return operator


INDEXES = ("executions", "waiting", "jobs", "pods", "requests", "pages", "schedules")


# --- events -> the work queue ---------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, "executions")
async def on_execution(
    type: str,
    body: kopf.Body,
    name: str,
    namespace: str | None,
    uid: str,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    operator, key = _operator(memo, kwargs), (namespace or "", name)
    if type == "DELETED":
        operator.keys.pop(uid, None)
        operator.memory.forget(uid)
        operator.cache.forget(key, uid)
        operator.queue.forget(key)
        return
    operator.keys[uid] = key
    operator.cache.seen(key, body)
    operator.queue.add(key)


def _owner_key(operator: Operator, labels: Mapping[str, str], namespace: str | None) -> None:
    key = operator.keys.get(labels.get(LABEL_EXECUTION_UID, ""))
    if key is not None and key[0] == namespace:
        operator.queue.add(key)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def on_job(
    type: str,
    body: kopf.Body,
    labels: Mapping[str, str],
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    operator = _operator(memo, kwargs)
    if type == "DELETED":
        operator.cache.lost(labels.get(LABEL_EXECUTION_UID, ""), body, "Job")
    _owner_key(operator, labels, namespace)


@kopf.on.event("", "v1", "pods", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def on_pod(
    type: str,
    body: kopf.Body,
    labels: Mapping[str, str],
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    operator = _operator(memo, kwargs)
    if type == "DELETED":
        operator.cache.lost(labels.get(LABEL_EXECUTION_UID, ""), body, "Pod")
    _owner_key(operator, labels, namespace)


@kopf.on.event(GROUP, VERSION, "workflows")
async def on_workflow(
    type: str,
    body: kopf.Body,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    operator = _operator(memo, kwargs)
    if type != "DELETED" and operator.leading:
        await asyncio.to_thread(reconcile_workflow, operator.kube, dict(body), operator.audit_key)
    for key in operator.cache.waiting_for(namespace or "", name):  # only those waiting for it
        operator.queue.add(key)


@kopf.on.event(GROUP, VERSION, "recoveryrequests")
async def on_recovery_request(type: str, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    if type == "DELETED":
        return
    operator = _operator(memo, kwargs)
    key = request_target(body)
    if key is None or not operator.leading:
        return  # the leader looks at it (and at every request again when it takes over)
    if operator.cache.execution(key) is None:
        # The Execution's own event may not have reached its index yet: ask, then reject.
        found = await asyncio.to_thread(store.get_execution, operator.kube, *key)
        if found is None:
            await asyncio.to_thread(reject_orphan_request, operator.kube, dict(body), utcnow())
            return
    operator.queue.add(key)


@dataclass(frozen=True)
class Options:
    """How this operator process runs (``headway operator --help`` explains each)."""

    namespaces: list[str] = field(default_factory=list)
    kubeconfig: str | None = None
    webhooks: admission.Webhooks | None = None
    election: Election | None = None
    metrics_address: tuple[str, int] | None = None
    cleanup: Cleanup = field(default_factory=Cleanup)


async def _main(
    operator: Operator, options: Options, keep_ca: Callable[[], None] | None = None
) -> None:
    stop = asyncio.Event()
    if options.election is not None:
        operator.queue.open.clear()
    else:
        operator.lead()
    workers = [
        asyncio.create_task(operator.queue.run()),
        asyncio.create_task(operator.post_events()),
        asyncio.create_task(_check_empty(operator, options.namespaces)),
        asyncio.create_task(_schedules(operator)),
    ]
    if keep_ca is not None:
        workers.append(asyncio.create_task(_keep_ca(keep_ca)))
    client = None
    if options.election is not None:
        election = options.election
        client = LeaseClient(
            operator.kube, election.namespace, election.lease, election.identity,
            election.duration_seconds,
        )  # fmt: skip
        workers.append(asyncio.create_task(lead(client, election, operator.lead, stop.set)))
    runner = None
    if options.metrics_address is not None:
        runner = await serve(operator.metrics, operator.health, *options.metrics_address)
    try:
        await kopf.operator(
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            standalone=True,
            memo=kopf.Memo(operator=operator),
            stop_flag=stop,
        )
    finally:
        for worker in workers:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await operator.close()
        if runner is not None:
            await runner.cleanup()
        if client is not None and not stop.is_set():
            await asyncio.to_thread(client.release)
    if stop.is_set():
        raise SystemExit("stopped: the leader lease was lost")


async def _schedules(operator: Operator) -> None:
    """Every SCHEDULE_TICK seconds, while leading and synced: each Schedule's due runs
    (its status says the latest time taken care of, so a tick missed is made up)."""
    while True:
        await asyncio.sleep(SCHEDULE_TICK)
        if not operator.leading or not operator.health.synced.is_set():
            continue
        executions = operator.cache.all_executions()  # on the loop, as the caches stand
        for schedule in operator.cache.all_schedules():
            try:
                await asyncio.to_thread(
                    reconcile_schedule, operator.kube, dict(schedule), executions, utcnow()
                )
            except Exception:  # one Schedule's trouble never stops the others' ticks
                log.exception("schedule %s: tick failed", schedule["metadata"].get("name"))


async def _check_empty(operator: Operator, namespaces: list[str]) -> None:
    """With nothing to watch there is no event to show the caches are filled: ask once."""
    try:
        empty = await asyncio.to_thread(
            store.nothing_to_watch, operator.kube, namespaces, LABEL_EXECUTION_UID
        )
    except KubeError as error:
        log.warning("could not check for watched objects: %s", error)
        return
    if empty:
        operator.health.synced.set()


async def _keep_ca(keep_ca: Callable[[], None]) -> None:
    """The CA stays in the webhook configurations: a ``helm upgrade`` that recreates one,
    or a person who edits it, is repaired within ``CA_CHECK_SECONDS``."""
    while True:
        await asyncio.sleep(CA_CHECK_SECONDS)
        try:
            await asyncio.to_thread(keep_ca)
        except KubeError as error:
            log.warning("could not check the webhooks' CA bundle: %s", error)


CA_CHECK_SECONDS = 10.0


def run(options: Options) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handler call at INFO: thousands a minute on a busy cluster.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    operator = Operator(
        Kube(options.kubeconfig), namespaces=options.namespaces, cleanup=options.cleanup
    )
    keep_ca = None
    if options.webhooks is not None:
        operator.health = Health(needs_webhook=True)
        registered = admission.register(operator.kube, options.webhooks)
        operator.audit_key, keep_ca = registered.audit_key, registered.keep_ca
        operator.health.webhook_ready.set()
    asyncio.run(_main(operator, options, keep_ca))
    return 0


__all__ = ["Operator", "Options", "run"]
