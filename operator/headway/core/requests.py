"""Which RecoveryRequests to apply, reject or complete: one at a time, in order, exactly once.

Exactly once across restarts: an applied request's uid is written into the
Execution's status together with the recovery itself, in one conditional
write. A request still Pending whose uid is already there was applied before a
crash; it is only marked Applied, never applied again.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace

from headway.core.plan import Emit
from headway.core.recovery import Order, Recovered, outcome, recover
from headway.models.execution import ExecutionStatus
from headway.models.recovery import RecoveryPhase

DONE = ("Succeeded", "Failed", "Rejected")


@dataclass(frozen=True)
class Request:
    """A RecoveryRequest, as the core needs it."""

    name: str
    uid: str
    order: Order
    phase: RecoveryPhase | None
    tasks: tuple[str, ...] = ()
    applied_at: datetime.datetime | None = None
    problem: str | None = None  # the spec did not parse: rejected, in its turn


@dataclass(frozen=True)
class RequestUpdate:
    """The new status of a RecoveryRequest."""

    name: str
    phase: RecoveryPhase
    message: str
    tasks: tuple[str, ...] = ()
    applied_at: datetime.datetime | None = None
    completed_at: datetime.datetime | None = None


@dataclass
class Applied:
    status: ExecutionStatus
    updates: dict[str, RequestUpdate] = field(default_factory=dict)
    events: list[Emit] = field(default_factory=list)


def apply_requests(
    status: ExecutionStatus, requests: list[Request], now: datetime.datetime
) -> Applied:
    """Apply the next request(s) in order; ``requests`` are this Execution's, oldest first."""
    result = Applied(status)
    for request in requests:
        if request.phase in DONE:
            continue
        if request.phase == "Applied":
            return result  # one at a time: the next waits until this one completes
        if request.problem is not None:
            result.updates[request.name] = RequestUpdate(
                request.name, "Rejected", request.problem, completed_at=now
            )
            continue
        if request.uid in result.status.recovery.applied_requests:
            # Applied before a crash; the request's own status was not yet written.
            result.updates[request.name] = RequestUpdate(
                request.name, "Applied", "applied", request.tasks, request.applied_at or now
            )
            return result
        recovered = recover(result.status, request.order, now)
        if not isinstance(recovered, Recovered):
            result.updates[request.name] = RequestUpdate(
                request.name, "Rejected", recovered.message, completed_at=now
            )
            result.events.append(
                Emit("Warning", "RecoveryRejected", f"request {request.name}: {recovered.message}")
            )
            continue
        result.status = recovered.status
        result.events.append(recovered.event)
        result.updates[request.name] = RequestUpdate(
            request.name, "Applied", recovered.event.message, tuple(recovered.tasks), now
        )
        return result
    return result


def complete_requests(
    status: ExecutionStatus,
    requests: list[Request],
    updates: dict[str, RequestUpdate],
    now: datetime.datetime,
) -> dict[str, RequestUpdate]:
    """Mark applied requests Succeeded or Failed once their recovery has played out
    (``status`` is the Execution after this pass's plan)."""
    completed = dict(updates)
    for request in requests:
        current = updates.get(request.name)
        phase = current.phase if current else request.phase
        if phase != "Applied":
            continue
        tasks = current.tasks if current else request.tasks
        ended = outcome(status, request.order.mode, list(tasks))
        if ended is None:
            continue
        applied_at = (current.applied_at if current else request.applied_at) or now
        summary = ", ".join(f"{t} {status.tasks[t].phase}" for t in tasks if t in status.tasks)
        base = current or RequestUpdate(request.name, "Applied", "", tasks, applied_at)
        completed[request.name] = replace(
            base, phase=ended, message=f"recovery {ended.lower()}: {summary}", completed_at=now
        )
    return completed
