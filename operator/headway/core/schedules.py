"""Schedules: which runs are due at ``now`` and what to do about them. Pure: the cron
expression is read by cronsim (which follows cron across daylight-saving changes), the
zone by ``zoneinfo``; the clock is an argument.

A run is an Execution named from its scheduled time (``run_name``), so creating it twice
is impossible (the second create meets 409) and a backfill gives the same names. The
status's ``lastScheduleTime`` is the latest time taken care of — started, or recorded as
missed — so an operator that was down finds every time since, and none twice:

- a time later than ``startingDeadlineSeconds`` ago is missed (said in the status and
  as an Event), never started;
- ``Allow``: every due time starts;
- ``Forbid``: one run at a time; a due time waits while a run is active (taken care of
  when it can start, or missed once past its deadline);
- ``Replace``: the latest due time starts; active runs are stopped (``spec.stop``, so
  they stay recoverable); earlier due times are recorded as replaced.

While a Schedule is suspended its times pass (``lastScheduleTime`` follows them): they
are not made up when it resumes (a backfill makes them, if wanted).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronsim import CronSim, CronSimError

from headway.core.naming import shorten
from headway.models.schedule import MissedRun, ScheduleSpec, ScheduleStatus

JSON = dict[str, Any]
LABEL_SCHEDULE = "headway.dev/schedule"
ANNOTATION_TIME = "headway.dev/scheduled-time"
MAX_DUE = 100  # times looked at in one pass (a long outage is caught up over passes)
MISSED_KEPT = 20
ENDED = frozenset({"Succeeded", "Failed", "Blocked", "Stopped", "Paused"})
FAILED = frozenset({"Failed", "Blocked", "Stopped"})
TOKEN = re.compile(r"\{\{\s*schedule\.(time|date)\s*\}\}")


class ScheduleError(ValueError):
    """The cron expression or the time zone is wrong; the message says how."""


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris)"
        ) from None


def times(
    spec: ScheduleSpec, after: datetime.datetime, until: datetime.datetime, limit: int = MAX_DUE
) -> list[datetime.datetime]:
    """The scheduled times in (``after``, ``until``], at most ``limit``, as UTC."""
    found: list[datetime.datetime] = []
    for moment in _iterate(spec, after):
        if moment > until or len(found) >= limit:
            break
        found.append(moment)
    return found


def next_time(spec: ScheduleSpec, after: datetime.datetime) -> datetime.datetime:
    return next(_iterate(spec, after))


def previous_time(spec: ScheduleSpec, until: datetime.datetime) -> datetime.datetime | None:
    """The latest scheduled time at or before ``until``."""
    edge = until + datetime.timedelta(microseconds=1)
    return next(_iterate(spec, edge, reverse=True), None)


def _iterate(
    spec: ScheduleSpec, after: datetime.datetime, reverse: bool = False
) -> Iterator[datetime.datetime]:
    local = after.astimezone(zone(spec.time_zone))
    try:
        for moment in CronSim(spec.schedule, local, reverse=reverse):
            yield moment.astimezone(datetime.UTC)
    except CronSimError as error:
        raise ScheduleError(f"schedule {spec.schedule!r}: {error}") from None


def problems(spec: ScheduleSpec) -> list[str]:
    """What is wrong with a Schedule at admission."""
    try:
        zone(spec.time_zone)
        next_time(spec, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    except ScheduleError as error:
        return [str(error)]
    except StopIteration:
        return [f"schedule {spec.schedule!r} never fires"]
    return []


def run_name(schedule: str, moment: datetime.datetime) -> str:
    """The Execution of the run scheduled at ``moment``: the same for the scheduler and a
    backfill, so each run is created once."""
    return shorten(f"{schedule}-{moment.astimezone(datetime.UTC):%Y%m%d-%H%M}")


def substitute(value: str, moment: datetime.datetime, spec: ScheduleSpec) -> str:
    local = moment.astimezone(zone(spec.time_zone))
    words = {"time": local.isoformat(), "date": local.date().isoformat()}
    return TOKEN.sub(lambda m: words[m.group(1)], value)


def run_manifest(name: str, namespace: str, spec: ScheduleSpec, moment: datetime.datetime) -> JSON:
    """The Execution of one run."""
    template = spec.execution
    body: JSON = {
        "workflowRef": {"name": template.workflow_ref.name},
        "params": {k: substitute(v, moment, spec) for k, v in template.params.items()},
    }
    extra = template.model_dump(
        by_alias=True, exclude_none=True, mode="json", exclude={"workflow_ref", "params"}
    )
    body.update(extra)
    return {
        "apiVersion": "headway.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {
            "name": run_name(name, moment),
            "namespace": namespace,
            "labels": {LABEL_SCHEDULE: shorten(name)},
            "annotations": {ANNOTATION_TIME: moment.astimezone(datetime.UTC).isoformat()},
        },
        "spec": body,
    }


@dataclass(frozen=True)
class Run:
    """One Execution of this Schedule, as the cache shows it."""

    name: str
    time: datetime.datetime | None
    phase: str | None
    created: str = ""
    stop: bool = False


@dataclass
class Tick:
    """What one pass decides: the status, runs to create, runs to stop, runs to delete
    (history), Events, and when to look again."""

    status: ScheduleStatus
    create: list[JSON] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    wake: datetime.datetime | None = None


def tick(
    name: str,
    namespace: str,
    spec: ScheduleSpec,
    status: ScheduleStatus,
    created: datetime.datetime,
    runs: Sequence[Run],
    now: datetime.datetime,
) -> Tick:
    fresh = status.model_copy(deep=True)
    result = Tick(fresh)
    active = [r for r in runs if r.phase not in ENDED]
    fresh.active = sorted(r.name for r in active)
    done = [r for r in runs if r.phase == "Succeeded" and r.time is not None]
    if done:
        latest = max(r.time for r in done if r.time is not None)
        if fresh.last_successful_time is None or latest > fresh.last_successful_time:
            fresh.last_successful_time = latest
    result.delete = _history(runs, spec)
    start = fresh.last_schedule_time or created
    if spec.suspend:
        # Times while suspended are skipped, not made up when it resumes.
        skipped = previous_time(spec, now)
        if skipped is not None and skipped > start:
            fresh.last_schedule_time = skipped
    due = times(spec, start, now) if not spec.suspend else []
    deadline = spec.starting_deadline_seconds
    existing = {r.name for r in runs}
    if spec.concurrency_policy == "Replace" and len(due) > 1:
        for moment in due[:-1]:
            _miss(result, moment, "Replaced", "a later run of the schedule replaced it")
        due = due[-1:]
    for moment in due:
        late = (now - moment).total_seconds()
        if deadline is not None and late > deadline:
            _miss(result, moment, "MissedDeadline",
                  f"{late:.0f}s late, past startingDeadlineSeconds {deadline}")  # fmt: skip
            continue
        run = run_name(name, moment)
        if run in existing:  # created before (by a pass or a backfill): never twice
            fresh.last_schedule_time = moment
            continue
        if spec.concurrency_policy == "Forbid" and active:
            if deadline is not None:
                result.wake = moment + datetime.timedelta(seconds=deadline + 1)
            break  # waits for the active run to end (or its deadline)
        if spec.concurrency_policy == "Replace":
            result.stop += [r.name for r in active if not r.stop]
        result.create.append(run_manifest(name, namespace, spec, moment))
        result.events.append(("Normal", "RunCreated", f"run {run} for {moment.isoformat()}"))
        fresh.last_schedule_time = moment
        fresh.active = sorted({*fresh.active, run})
        active = [*active, Run(run, moment, None)]
    if not spec.suspend:
        upcoming = next_time(spec, max(now, fresh.last_schedule_time or start))
        fresh.next_schedule_time = upcoming
        result.wake = min(result.wake, upcoming) if result.wake else upcoming
    else:
        fresh.next_schedule_time = None
    fresh.active_count = len(fresh.active)
    return result


def _miss(result: Tick, moment: datetime.datetime, reason: str, message: str) -> None:
    status = result.status
    status.missed = [*status.missed, MissedRun(time=moment, reason=reason, message=message)]
    status.missed = status.missed[-MISSED_KEPT:]
    if status.last_schedule_time is None or moment > status.last_schedule_time:
        status.last_schedule_time = moment
    result.events.append(
        ("Warning", reason, f"run for {moment.isoformat()} not started: {message}")
    )


def _history(runs: Sequence[Run], spec: ScheduleSpec) -> list[str]:
    """Ended runs past the history limits, oldest first (failed ones are kept longer:
    they are there to be recovered)."""
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    ended = sorted((r for r in runs if r.phase in ENDED), key=lambda r: (r.time or epoch, r.name))
    succeeded = [r.name for r in ended if r.phase == "Succeeded"]
    failed = [r.name for r in ended if r.phase in FAILED]
    limits = spec.history_limit
    return (
        succeeded[: max(0, len(succeeded) - limits.succeeded)]
        + failed[: max(0, len(failed) - limits.failed)]
    )


def runs_of(executions: Sequence[Mapping[str, Any]], name: str) -> list[Run]:
    """This Schedule's runs among ``executions`` (by label)."""
    found = []
    label = shorten(name)
    for obj in executions:
        meta = obj.get("metadata") or {}
        if (meta.get("labels") or {}).get(LABEL_SCHEDULE) != label:
            continue
        stamp = (meta.get("annotations") or {}).get(ANNOTATION_TIME)
        moment = datetime.datetime.fromisoformat(stamp) if stamp else None
        found.append(
            Run(
                meta.get("name", ""),
                moment,
                (obj.get("status") or {}).get("phase"),
                meta.get("creationTimestamp", ""),
                bool((obj.get("spec") or {}).get("stop")),
            )
        )
    return found
