"""One pure decision per reconcile: ``decide(view, now) -> Decision``.

The view is what the caches show of one Execution — its spec and status, the
Workflow it names (until started), its Jobs and pods reduced to facts, its
RecoveryRequests, the recover annotation — plus what became of this pass's Job
creates when the shell had to try them first. The decision is everything to
do: the new status (written whole), Job operations, the requests' statuses,
Events, and when to look again. Steps, in order: start, the recover annotation,
the next RecoveryRequest, the scheduling plan, completion of applied requests.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

from headway.core import cleanup as cleanup_
from headway.core import definers
from headway.core.actions import DeleteJob, Emit, JobAction
from headway.core.cleanup import Cleanup, effective, expiry
from headway.core.context import Context, Prepared
from headway.core.facts import ObservedJob, Quiet
from headway.core.plan import Launches, Since, plan
from headway.core.recovery import recover_by_token
from headway.core.render import Owner
from headway.core.requests import (
    Request,
    RequestUpdate,
    apply_requests,
    complete_records,
    mirror,
)
from headway.core.start import not_ready, start
from headway.models.execution import AutoRecovery, ExecutionSpec, ExecutionStatus
from headway.models.workflow import WorkflowSpec

NOT_STARTED_RECHECK = datetime.timedelta(seconds=15)


@dataclass(frozen=True)
class RecoverAnnotation:
    """The ``headway.dev/recover`` value and who set it (None unless the webhook vouches)."""

    token: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class Carried:
    """What the caller kept from the pass before, so that a pass costs what changed: the
    workflow made ready to schedule, the quietly running attempts (``quiet_of(jobs)``),
    what the last plan left, and the tasks whose Job facts changed since. Never needed:
    without it the decision is the same (a property test holds them equal)."""

    prepared: Prepared | None = None
    quiet: Quiet | None = None
    since: Since | None = None
    touched: AbstractSet[str] | None = None


@dataclass(frozen=True)
class View:
    name: str
    namespace: str
    uid: str
    spec: ExecutionSpec | str  # the parsed spec, or why it does not parse
    status: ExecutionStatus
    generation: int | None = None
    workflow: WorkflowSpec | str | None = None  # the named Workflow: spec, problem, or absent
    jobs: Mapping[str, ObservedJob] = field(default_factory=dict)
    requests: Sequence[Request] = ()
    recover: RecoverAnnotation = field(default_factory=RecoverAnnotation)
    launches: Launches = field(default_factory=Launches)
    carried: Carried = field(default_factory=Carried)
    # Job name -> its facts from a direct read, asked for by ``Decision.confirm``: they
    # override what the caches show (``jobs``).
    confirmed: Mapping[str, ObservedJob] = field(default_factory=dict)
    # Who defined what would run, as the webhook's signature proves it (None: unchecked):
    # the inline workflow's definer, and the named Workflow's (until started).
    definer: str | None = None
    workflow_definer: str | None = None
    defaults: Cleanup = field(default_factory=Cleanup)  # the operator's, for clean-up


@dataclass
class Decision:
    status: ExecutionStatus
    jobs: list[JobAction] = field(default_factory=list)
    requests: dict[str, RequestUpdate] = field(default_factory=dict)
    events: list[Emit] = field(default_factory=list)
    wake_at: datetime.datetime | None = None
    since: Since | None = None  # what the plan left for the next pass, when one was made
    # Plan.confirm: read these Jobs directly and decide again (``View.confirmed``) before
    # carrying anything out.
    confirm: frozenset[str] = frozenset()
    delete: bool = False  # its time to live is over: delete the Execution (and its Jobs)


def _started(view: View, now: datetime.datetime) -> ExecutionStatus:
    """The status once started, or with ``Ready=False`` naming why it cannot start."""
    status = view.status
    if status.workflow is not None:
        return status  # the snapshot rules from here on
    if isinstance(view.spec, str):
        return not_ready(status, "InvalidSpec", view.spec, now)
    if isinstance(view.workflow, str):
        return not_ready(status, "InvalidWorkflow", view.workflow, now)
    unchecked = definers.unchecked(view.namespace, view.spec, view.workflow, view.definer,
                                   view.workflow_definer)  # fmt: skip
    if unchecked:
        return not_ready(status, "DefinerNotChecked", unchecked, now)
    definer = view.definer if view.spec.workflow is not None else view.workflow_definer
    return start(view.spec, status, view.workflow, now, definer)


def hold_of(spec: ExecutionSpec | None) -> Literal["suspend", "stop"] | None:
    if spec is None:
        return None
    return "stop" if spec.stop else "suspend" if spec.suspend else None


def decide(view: View, now: datetime.datetime) -> Decision:
    status = _started(view, now)
    spec = view.spec if isinstance(view.spec, ExecutionSpec) else None
    stopping = bool(spec and spec.stop)
    status, events = recover_by_token(status, view.recover.token, view.recover.by, now, stopping)
    requests = list(view.requests)
    applied = apply_requests(status, requests, now, stopping)
    decision = Decision(applied.status, events=events + applied.events)
    if decision.status.workflow is not None and decision.status.params is not None:
        carried = view.carried
        context = Context(
            Owner(view.name, view.namespace, view.uid),
            decision.status.workflow,
            decision.status.params,
            spec.auto_recovery if spec else AutoRecovery(),
            carried.prepared
            if carried.prepared and decision.status.workflow is view.status.workflow
            else None,
            hold_of(spec),
        )
        jobs = {**view.jobs, **view.confirmed} if view.confirmed else view.jobs
        planned = plan(
            context,
            decision.status,
            jobs,
            now,
            view.launches,
            carried.quiet,
            carried.since,
            carried.touched,
        )
        decision.status, decision.jobs, decision.wake_at = (
            planned.status,
            planned.jobs,
            planned.wake_at,
        )
        decision.since, decision.confirm = planned.since, planned.confirm - view.confirmed.keys()
        decision.events += planned.events
    elif not isinstance(view.spec, str):
        decision.wake_at = now + NOT_STARTED_RECHECK  # the Workflow may appear or be fixed
    decision.status = complete_records(decision.status, now).model_copy(
        update={"observed_generation": view.generation}
    )
    decision.requests = mirror(decision.status, requests, applied.updates)
    clean_up(decision, view, spec, now)
    return decision


def clean_up(
    decision: Decision, view: View, spec: ExecutionSpec | None, now: datetime.datetime
) -> None:
    """The Execution deleted once its time to live is over; the Jobs of succeeded
    attempts, once the status as written holds their ends (``jobRetention: Failed``)."""
    cleanup = effective(spec, view.defaults)
    if view.status.workflow is not None and not decision.confirm:
        retired = cleanup_.retired(view.status, view.jobs, cleanup)
        decision.jobs += [DeleteJob(name) for name in retired]
        if len(retired) >= cleanup_.RETIRE_BATCH:
            decision.wake_at = now
    expires = expiry(decision.status, cleanup)
    if expires is None or decision.status.phase != view.status.phase:
        return  # the end is written first: a run is never deleted in the pass it ends
    if expires <= now:
        decision.delete = True
    elif decision.wake_at is None or expires < decision.wake_at:
        decision.wake_at = expires
