"""Which RecoveryRequests to apply, reject or complete: one at a time, in order, exactly once.

The Execution's status is the record: applying a request writes an
``AppliedRequest`` (uid, mode, tasks, who, when) into ``status.recovery.requests``
in the same conditional write as the recovery itself, and its completion is
written there too. A RecoveryRequest's own status is only a mirror of that
record, so a crash between the two writes loses nothing: the next pass finds
the record and writes the mirror again; it never applies a request twice.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from headway.core.actions import Emit
from headway.core.recovery import Order, Recovered, outcome, recover
from headway.core.vocabulary import REQUEST_FINISHED
from headway.models.execution import AppliedRequest, ExecutionStatus
from headway.models.recovery import RecoveryPhase


@dataclass(frozen=True)
class Request:
    """A RecoveryRequest, as the core needs it (``order.by`` is None when unverified)."""

    name: str
    uid: str
    order: Order
    phase: RecoveryPhase | None
    problem: str | None = None  # the spec did not parse: rejected, in its turn


@dataclass(frozen=True)
class RequestUpdate:
    """The status a RecoveryRequest should show."""

    name: str
    phase: RecoveryPhase
    message: str
    requested_by: str | None = None
    tasks: tuple[str, ...] = ()
    applied_at: datetime.datetime | None = None
    completed_at: datetime.datetime | None = None
    items: dict[str, list[int]] | None = None  # map task -> the items rerun or resolved


@dataclass
class Applied:
    status: ExecutionStatus
    updates: dict[str, RequestUpdate] = field(default_factory=dict)
    events: list[Emit] = field(default_factory=list)


def _open(status: ExecutionStatus) -> bool:
    return any(r.completed_at is None for r in status.recovery.requests)


def apply_requests(
    status: ExecutionStatus,
    requests: list[Request],
    now: datetime.datetime,
    stopping: bool = False,
) -> Applied:
    """Apply the next request in order, reject those that cannot apply, and mark the ones
    waiting their turn Pending. ``requests`` are this Execution's, oldest first."""
    result = Applied(status)
    recorded = {r.uid for r in status.recovery.requests}
    for request in requests:
        if request.uid in recorded or request.phase in REQUEST_FINISHED:
            continue  # applied (mirrored later) or finished for good
        if request.problem is not None:
            result.updates[request.name] = _rejected(request, request.problem, now)
            continue
        if _open(result.status):
            if request.phase != "Pending":
                result.updates[request.name] = RequestUpdate(
                    request.name,
                    "Pending",
                    "waiting for an earlier recovery of this execution to finish",
                    request.order.by,
                )
            continue
        recovered = recover(result.status, request.order, now, stopping)
        if not isinstance(recovered, Recovered):
            result.updates[request.name] = _rejected(request, recovered.message, now)
            result.events.append(
                Emit("Warning", "RecoveryRejected", f"request {request.name}: {recovered.message}")
            )
            continue
        result.status = recovered.status
        result.events.append(recovered.event)
    return result


def _rejected(request: Request, message: str, now: datetime.datetime) -> RequestUpdate:
    return RequestUpdate(request.name, "Rejected", message, request.order.by, completed_at=now)


def complete_records(status: ExecutionStatus, now: datetime.datetime) -> ExecutionStatus:
    """Close the open records whose recovery has played out (``status`` is after the plan)."""
    if not _open(status):
        return status
    records: list[AppliedRequest] = []
    for record in status.recovery.requests:
        ended = (
            None
            if record.completed_at
            else outcome(status, record.mode, record.tasks, record.items)
        )
        if ended is None:
            records.append(record)
            continue
        summary = ", ".join(
            f"{t} {status.tasks[t].phase}" for t in record.tasks if t in status.tasks
        )
        records.append(
            record.model_copy(
                update={
                    "outcome": ended,
                    "completed_at": now,
                    "message": f"recovery {ended.lower()}: {summary}",
                }
            )
        )
    completed = status.model_copy()
    completed.recovery = status.recovery.model_copy(update={"requests": records})
    return completed


def mirror(
    status: ExecutionStatus, requests: list[Request], updates: dict[str, RequestUpdate]
) -> dict[str, RequestUpdate]:
    """Every request's status: from its record in the Execution if it has one, else as
    decided in this pass (``updates``)."""
    mirrored = dict(updates)
    records = {r.uid: r for r in status.recovery.requests}
    for request in requests:
        record = records.get(request.uid)
        if record is None:
            continue
        mirrored[request.name] = RequestUpdate(
            request.name,
            record.outcome or "Applied",
            record.message or "applied",
            record.by,
            tuple(record.tasks),
            record.applied_at,
            record.completed_at,
            record.items,
        )
    return mirrored
