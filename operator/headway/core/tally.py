"""What one reconcile pass did, counted for the metrics: task attempts launched, stalls,
and RecoveryRequests that reached a new phase (by mode and phase). Pure: from the view
and the decision only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from headway.core.actions import CreateJob
from headway.core.decide import Decision, View

STALL_EVENTS = frozenset({"TaskStalled", "TaskBlocked"})  # a task blocks only by stalling


@dataclass(frozen=True)
class Tally:
    attempts: int = 0
    stalls: int = 0
    recoveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (mode, phase)


def tally(view: View, decision: Decision) -> Tally:
    recoveries: Counter[tuple[str, str]] = Counter()
    for request in view.requests:
        update = decision.requests.get(request.name)
        if update is not None and update.phase not in (request.phase, "Pending"):
            recoveries[(request.order.mode, update.phase)] += 1
    return Tally(
        attempts=sum(1 for job in decision.jobs if isinstance(job, CreateJob)),
        stalls=sum(1 for event in decision.events if event.reason in STALL_EVENTS),
        recoveries=recoveries,
    )
