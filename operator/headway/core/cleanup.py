"""Cleaning up after the fact: an Execution deleted a while after it ended
(``ttlSecondsAfterFinished``, ``ttlSecondsAfterFailure``), and the Jobs of succeeded
attempts deleted once their outputs are in the status (``jobRetention: Failed``).
Namespace-wide defaults come from the operator's flags (chart values)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from headway.core import items as items_
from headway.core.facts import ObservedJob
from headway.models.execution import ExecutionSpec, ExecutionStatus

Retention = Literal["All", "Failed"]
FAILED_ENDS = frozenset({"Failed", "Blocked", "Stopped"})
RETIRE_BATCH = 200  # Jobs deleted in one pass (then the next pass goes on)


@dataclass(frozen=True)
class Cleanup:
    ttl_succeeded: int | None = None
    ttl_failed: int | None = None
    job_retention: Retention = "All"


def effective(spec: ExecutionSpec | None, defaults: Cleanup) -> Cleanup:
    """The Execution's own settings, else the operator's defaults."""
    if spec is None:
        return defaults
    return Cleanup(
        spec.ttl_seconds_after_finished
        if spec.ttl_seconds_after_finished is not None
        else defaults.ttl_succeeded,
        spec.ttl_seconds_after_failure
        if spec.ttl_seconds_after_failure is not None
        else defaults.ttl_failed,
        spec.job_retention or defaults.job_retention,
    )


def expiry(status: ExecutionStatus, cleanup: Cleanup) -> datetime.datetime | None:
    """When the Execution is to be deleted (None: kept)."""
    if status.finished_at is None:
        return None
    if status.phase == "Succeeded":
        ttl = cleanup.ttl_succeeded
    elif status.phase in FAILED_ENDS:
        ttl = cleanup.ttl_failed
    else:
        return None
    return None if ttl is None else status.finished_at + datetime.timedelta(seconds=ttl)


def retired(
    status: ExecutionStatus, jobs: Mapping[str, ObservedJob], cleanup: Cleanup
) -> list[str]:
    """Under ``jobRetention: Failed``: the Jobs of succeeded attempts whose end ``status``
    (as the API server holds it) has recorded — every one but the attempt a task or item
    is still Running on. Superseded attempts follow the same rule."""
    if cleanup.job_retention != "Failed":
        return []
    found = []
    for name, job in jobs.items():
        if job.outcome == "Succeeded" and not _current(status, job):
            found.append(name)
            if len(found) >= RETIRE_BATCH:
                break
    return found


def _current(status: ExecutionStatus, job: ObservedJob) -> bool:
    """Whether ``job`` is the attempt its task or item is Running on (its end not yet
    recorded)."""
    state = status.tasks.get(job.task)
    if state is None:
        return True  # not ours to judge
    if job.item is None:
        return state.phase == "Running" and state.job == job.name
    found = state.map
    if found is None or job.item >= found.count:
        return state.phase == "Running"
    item = items_.item_state(found, job.item)
    return item.phase in ("Running", "Retrying") and item.attempts == job.attempt
