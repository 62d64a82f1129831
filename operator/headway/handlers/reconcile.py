"""Reconcile one Execution: read the view (shell), ``decide`` (core), carry it out (shell).
Also a Workflow's status."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headway.core import definers, pages
from headway.core.actions import CreateJob, DeleteJob, Emit
from headway.core.cleanup import Cleanup
from headway.core.decide import Carried, Decision, View, decide
from headway.core.facts import ObservedJob, confirm_attempt
from headway.core.plan import Launches
from headway.core.render import Owner
from headway.core.requests import RequestUpdate
from headway.core.start import workflow_status
from headway.core.tally import Tally, tally
from headway.core.vocabulary import REQUEST_FINISHED
from headway.models.base import rfc3339
from headway.models.execution import ExecutionStatus
from headway.models.workflow import WorkflowStatus
from headway.runtime.cache import Snapshot
from headway.runtime.memory import Kept, Memory, wire_status
from headway.shell import parse, store
from headway.shell.kube import Kube, KubeError

JSON = dict[str, Any]
Clock = Callable[[], datetime.datetime]
log = logging.getLogger("headway.reconcile")
CONFLICT_RETRIES = 5
LAUNCH_ROUNDS = 5  # decide again after refused or deferred creates, at most this often


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Outcome:
    """What one reconcile did, for the loop: when to look again, what it wrote (kept until
    the watches show it), and the Events to post off the hot path."""

    wake: datetime.datetime | None = None
    written: JSON | None = None
    created: list[JSON] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)  # of the pass whose status was written


def reconcile_execution(
    kube: Kube,
    snapshot: Snapshot,
    audit_key: bytes | None,
    memory: Memory,
    clock: Clock = utcnow,
    defaults: Cleanup | None = None,
) -> Outcome:
    """Bring one Execution a step forward from what the caches show. A conflicting write
    means the cache was behind: read the Execution itself and decide again."""
    created: list[JSON] = []
    for _ in range(CONFLICT_RETRIES):
        meta = snapshot.execution["metadata"]
        if meta.get("deletionTimestamp"):
            return Outcome()
        try:
            outcome = _reconcile_once(
                kube, snapshot, audit_key, memory, clock, created, defaults or Cleanup()
            )
            outcome.created = created
            return outcome
        except store.Conflict:
            log.debug("execution %s/%s changed meanwhile; again", *_key(meta))
            fresh = store.get_execution(kube, meta["namespace"], meta["name"])
            if fresh is None:
                return Outcome(created=created)
            made = {j["metadata"]["name"]: j for j in created}
            changed = None if snapshot.changed is None else snapshot.changed | made.keys()
            snapshot = dataclasses.replace(
                snapshot, execution=fresh, jobs={**snapshot.jobs, **made}, changed=changed
            )
    raise store.Conflict(f"execution {_key(meta)}: too many conflicting updates")


def load_view(
    kube: Kube | None,
    snapshot: Snapshot,
    audit_key: bytes | None,
    memory: Memory,
    defaults: Cleanup | None = None,
) -> tuple[View, Kept]:
    """What the caches show of one Execution, parsed (the status once per version); also
    the status as read. ``kube`` is only asked for the named Workflow, until started."""
    obj = snapshot.execution
    meta, namespace = obj["metadata"], obj["metadata"]["namespace"]
    kept = memory.status(obj)
    status = kept.status
    if status.workflow is not None and pages.needs(status):
        read_back(kube, snapshot, status)
    spec = memory.spec(kept, obj)
    workflow, definer, workflow_definer = None, None, None
    if status.workflow is None and not isinstance(spec, str):
        definer = parse.definer(obj, audit_key, "Execution")
        if spec.workflow_ref and kube:
            found = store.get_workflow(kube, namespace, spec.workflow_ref.name)
            workflow, workflow_definer = (
                parse.workflow_spec(found),
                parse.definer(found, audit_key, "Workflow"),
            )
    requests = sorted(snapshot.requests, key=store.submitted_order)
    view = View(
        name=meta["name"],
        namespace=namespace,
        uid=meta["uid"],
        spec=spec,
        status=status,
        generation=meta.get("generation"),
        workflow=workflow,
        jobs=(
            kept.facts.update(snapshot.jobs, snapshot.newest, snapshot.changed, snapshot.seq)
            if status.workflow
            else {}
        ),
        requests=[parse.request(r, audit_key) for r in requests],
        recover=parse.recover_annotation(obj, audit_key),
        carried=Carried(
            memory.prepared(kept),
            kept.facts.quiet if status.workflow else None,
            kept.since if status.workflow else None,
            kept.facts.touched if status.workflow else None,
        ),
        definer=definer,
        workflow_definer=workflow_definer,
        defaults=defaults or Cleanup(),
    )
    return view, kept


class PagesMissing(Exception):
    """Stored pages of item outputs not found as the status records them."""


def read_back(kube: Kube | None, snapshot: Snapshot, status: ExecutionStatus) -> None:
    """Put the pages of item outputs kept in OutputPages back into ``status``: from the
    cache, else read directly (the cache may be behind a page another replica wrote)."""
    if not pages.missing(status, pages.read(snapshot.pages)):
        return
    meta = snapshot.execution["metadata"]
    lost = pages.missing(
        status, pages.read(store.read_pages(kube, meta["namespace"], meta["uid"])) if kube else {}
    )
    if lost:
        raise PagesMissing(
            f"execution {meta['namespace']}/{meta['name']}: OutputPages of items' outputs "
            f"{', '.join(lost)} are missing or changed since written"
        )


def confirm_stalls(kube: Kube, view: View, names: frozenset[str]) -> dict[str, ObservedJob]:
    """Read directly the attempts the caches suggest were lost, and log what was found:
    a stall is declared only on this proof."""
    confirmed = {}
    for name in sorted(names):
        read = store.read_attempt(kube, view.namespace, name)
        fact = confirmed[name] = confirm_attempt(read, view.jobs.get(name))
        where = f"execution {view.namespace}/{view.name}: attempt {name}"
        if fact.stalled:
            log.warning("%s stalled: %s [%s]", where, fact.stalled, fact.evidence)
        else:
            again = ", still changing: looking again" if fact.recheck else ""
            log.info("%s is not stalled: %s%s [%s]", where, fact.outcome, again, fact.evidence)
    return confirmed


def _merge(old: Launches, new: Launches) -> Launches:
    return Launches(
        {**old.refused, **new.refused}, {**old.deferred, **new.deferred}, old.created | new.created
    )


def carry_out_jobs(kube: Kube, view: View, now: datetime.datetime, created: list[JSON]) -> Decision:
    """Decide, delete and create Jobs (``created`` collects the Jobs made); when the API
    server refuses or defers a create, decide again knowing it, so the status written
    says what really happened."""
    decision = decide(view, now)
    if decision.confirm:
        view = dataclasses.replace(view, confirmed=confirm_stalls(kube, view, decision.confirm))
        decision = decide(view, now)
    store.delete_jobs(kube, view.namespace, [j for j in decision.jobs if isinstance(j, DeleteJob)])
    launches = Launches(created=frozenset(j["metadata"]["name"] for j in created))
    for _ in range(LAUNCH_ROUNDS):
        creates = [j for j in decision.jobs if isinstance(j, CreateJob)]
        tried = launches.created | set(launches.refused) | set(launches.deferred)
        fresh = [c for c in creates if c.name not in tried]
        if not fresh:
            break
        result, bodies = store.create_jobs(kube, view.namespace, view.uid, fresh)
        created += bodies
        launches = _merge(launches, result)
        if not result.refused and not result.deferred:
            break
        decision = decide(dataclasses.replace(view, launches=launches), now)
    return decision


def _reconcile_once(
    kube: Kube,
    snapshot: Snapshot,
    audit_key: bytes | None,
    memory: Memory,
    clock: Clock,
    created: list[JSON],
    defaults: Cleanup,
) -> Outcome:
    view, kept = load_view(kube, snapshot, audit_key, memory, defaults)
    now = clock()
    decision = carry_out_jobs(kube, view, now, created)
    owner = Owner(view.name, view.namespace, view.uid)
    store.write_pages(kube, view.namespace, pages.changed(owner, decision.status, kept.status))
    status = wire_status(decision.status, kept.status, kept.raw)
    written = store.write_status(kube, snapshot.execution, kept.raw, status)
    if written is not None:
        memory.wrote(view.uid, written["metadata"]["resourceVersion"], decision.status, status)
    if decision.since is not None:
        memory.planned(view.uid, decision.since)
    write_requests(kube, snapshot.requests, decision.requests)
    if decision.delete:
        log.info("execution %s/%s: its time to live is over: deleted", view.namespace, view.name)
        store.delete_execution(kube, view.namespace, view.name, view.uid)
        return Outcome(events=decision.events)
    return Outcome(decision.wake_at, written, events=decision.events, tally=tally(view, decision))


def request_status(update: RequestUpdate) -> JSON:
    status: JSON = {"phase": update.phase, "message": update.message}
    if update.requested_by:
        status["requestedBy"] = update.requested_by
    if update.tasks:
        status["tasks"] = list(update.tasks)
    if update.items:
        status["items"] = update.items
    if update.applied_at:
        status["appliedAt"] = rfc3339(update.applied_at)
    if update.completed_at:
        status["completedAt"] = rfc3339(update.completed_at)
    return status


def write_requests(kube: Kube, raw: list[JSON], updates: dict[str, RequestUpdate]) -> None:
    """Replace each request's status that differs from what it shows; a request changed
    meanwhile is left for the next pass (its change requeues the Execution)."""
    by_name = {r["metadata"]["name"]: r for r in raw}
    for name, update in updates.items():
        obj, status = by_name.get(name), request_status(update)
        if obj is None or obj.get("status") == status:
            continue
        try:
            store.replace_request_status(kube, obj, status)
        except store.Conflict:
            log.debug("request %s changed meanwhile; next pass", name)


def post_events(kube: Kube, owner: JSON, events: list[Emit]) -> None:
    """Post Events on ``owner``; losing one is logged, never fatal (history has it all)."""
    store.emit(kube, owner, events, utcnow())


def reject_orphan_request(kube: Kube, obj: JSON, now: datetime.datetime) -> None:
    """A request naming no existing Execution: Rejected, saying so."""
    meta = obj["metadata"]
    name = ((obj.get("spec") or {}).get("executionRef") or {}).get("name", "")
    update = RequestUpdate(
        meta["name"],
        "Rejected",
        f'execution "{name}" not found in namespace "{meta["namespace"]}"',
        completed_at=now,
    )
    write_requests(kube, [obj], {meta["name"]: update})


def request_target(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The key of the Execution a request names, while the request is not finished."""
    if (obj.get("status") or {}).get("phase") in REQUEST_FINISHED:
        return None
    name = ((obj.get("spec") or {}).get("executionRef") or {}).get("name", "")
    return str(obj["metadata"]["namespace"]), str(name)


def _key(meta: JSON) -> tuple[str, str]:
    return meta["namespace"], meta["name"]


def reconcile_workflow(
    kube: Kube, obj: JSON, audit_key: bytes | None, clock: Clock = utcnow
) -> None:
    """Set a Workflow's ``Ready`` condition (with every problem named, including nobody
    checked as allowed to define it) and task count."""
    meta = obj["metadata"]
    old = WorkflowStatus.model_validate(obj.get("status") or {})
    unchecked = None
    if parse.definer(obj, audit_key, "Workflow") is None:
        unchecked = definers.unchecked_workflow(meta["namespace"], meta["name"])
    new = workflow_status(old, parse.workflow_spec(obj), meta.get("generation"), clock(), unchecked)
    if new.wire() != old.wire():
        try:
            store.replace_status(kube, obj, new.wire())
        except store.Conflict:
            log.debug("workflow %s/%s changed meanwhile; its next event", *_key(meta))
        except KubeError as error:
            if error.status != 404:
                raise
            log.debug("workflow %s/%s is gone: no status to write", *_key(meta))
