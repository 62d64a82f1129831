"""Schedules with an injected clock: daylight-saving changes in Europe/Paris, every
concurrency policy, the starting deadline, catching up after an outage exactly once,
run names, params, history limits, and admission's refusals."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from headway.core import schedules
from headway.core.admission import schedule_verdict
from headway.core.schedules import Run, run_name, tick, times
from headway.models.schedule import ScheduleSpec, ScheduleStatus

PARIS = schedules.zone("Europe/Paris")
UTC = datetime.UTC


def spec(**fields: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {"schedule": "0 2 * * *", "execution": {"workflowRef": {"name": "report"}}, **fields}
    )


def local(year: int, month: int, day: int, hour: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=PARIS)


def test_spring_forward_in_paris_runs_the_missing_time_once_at_three() -> None:
    nightly = spec(schedule="30 2 * * *", timeZone="Europe/Paris")
    found = times(nightly, local(2026, 3, 28, 12), local(2026, 3, 30, 12))
    assert [t.astimezone(PARIS).isoformat() for t in found] == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
    ]


def test_fall_back_in_paris_runs_a_daily_time_once_and_an_interval_in_both_hours() -> None:
    nightly = spec(schedule="30 2 * * *", timeZone="Europe/Paris")
    found = times(nightly, local(2026, 10, 24, 12), local(2026, 10, 26, 12))
    assert [t.astimezone(PARIS).isoformat() for t in found] == [
        "2026-10-25T02:30:00+02:00",  # 02:30 happens twice that night: one run
        "2026-10-26T02:30:00+01:00",
    ]
    half = spec(schedule="*/30 * * * *", timeZone="Europe/Paris")
    start = datetime.datetime(2026, 10, 24, 23, 50, tzinfo=UTC)  # 01:50 in Paris
    found = times(half, start, start + datetime.timedelta(hours=2))
    assert [t.isoformat() for t in found] == [
        "2026-10-25T00:00:00+00:00",  # 02:00 CEST
        "2026-10-25T00:30:00+00:00",
        "2026-10-25T01:00:00+00:00",  # 02:00 CET: real time goes on
        "2026-10-25T01:30:00+00:00",
    ]
    assert len({run_name("half", t) for t in found}) == 4  # names by UTC: all distinct


T0 = datetime.datetime(2026, 12, 4, 0, 0, tzinfo=UTC)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def every_minute(**fields: Any) -> ScheduleSpec:
    return spec(schedule="* * * * *", **fields)


def test_a_run_a_minute_with_names_from_its_time_and_params_from_the_schedule() -> None:
    params = {"day": "{{ schedule.date }}", "at": "{{schedule.time}}", "x": "plain"}
    sched = every_minute(execution={"workflowRef": {"name": "report"}, "params": params})
    result = tick("nightly", "ns", sched, ScheduleStatus(), T0, [], at(1.2))
    [made] = result.create
    assert made["metadata"]["name"] == "nightly-20261204-0001"
    assert made["spec"]["params"] == {
        "day": "2026-12-04", "at": "2026-12-04T00:01:00+00:00", "x": "plain",
    }  # fmt: skip
    assert made["spec"]["workflowRef"] == {"name": "report"}
    assert made["metadata"]["labels"] == {"headway.dev/schedule": "nightly"}
    assert result.status.last_schedule_time == at(1)
    assert result.status.next_schedule_time == at(2)
    assert result.wake == at(2)


def test_an_outage_is_caught_up_once_each_and_never_twice() -> None:
    sched = every_minute(concurrencyPolicy="Allow")
    status = ScheduleStatus(last_schedule_time=at(1))
    result = tick("n", "ns", sched, status, T0, [], at(4.5))  # down for 3 minutes
    names = [m["metadata"]["name"] for m in result.create]
    assert names == ["n-20261204-0002", "n-20261204-0003", "n-20261204-0004"]
    # The same pass again (the status write was lost): the runs exist, none is made twice.
    runs = [Run(n, None, None) for n in names]
    again = tick("n", "ns", sched, status, T0, runs, at(4.6))
    assert again.create == [] and again.status.last_schedule_time == at(4)


def test_a_run_past_its_starting_deadline_is_missed_and_said_so() -> None:
    sched = every_minute(startingDeadlineSeconds=90, concurrencyPolicy="Allow")
    status = ScheduleStatus(last_schedule_time=at(0))
    result = tick("n", "ns", sched, status, T0, [], at(4.5))
    assert [m["metadata"]["name"] for m in result.create] == ["n-20261204-0003", "n-20261204-0004"]
    assert [(m.time, m.reason) for m in result.status.missed] == [
        (at(1), "MissedDeadline"), (at(2), "MissedDeadline"),
    ]  # fmt: skip
    assert [e[1] for e in result.events].count("MissedDeadline") == 2


def test_forbid_waits_for_the_active_run_then_starts_within_the_deadline() -> None:
    sched = every_minute(concurrencyPolicy="Forbid", startingDeadlineSeconds=120)
    status = ScheduleStatus(last_schedule_time=at(1))
    active = [Run("n-20261204-0001", at(1), "Running")]
    waiting = tick("n", "ns", sched, status, T0, active, at(2.2))
    assert waiting.create == [] and waiting.status.last_schedule_time == at(1)
    assert waiting.status.active == ["n-20261204-0001"]
    ended = [Run("n-20261204-0001", at(1), "Succeeded")]
    started = tick("n", "ns", sched, waiting.status, T0, ended, at(3.5))
    assert [m["metadata"]["name"] for m in started.create] == ["n-20261204-0002"]
    assert started.status.last_successful_time == at(1)
    # One at a time: the 00:03 run waits for the 00:02 one.
    assert started.status.last_schedule_time == at(2)


def test_replace_stops_the_active_run_and_starts_only_the_latest() -> None:
    sched = every_minute(concurrencyPolicy="Replace")
    status = ScheduleStatus(last_schedule_time=at(1))
    active = [Run("n-20261204-0001", at(1), "Running")]
    result = tick("n", "ns", sched, status, T0, active, at(3.5))
    assert [m["metadata"]["name"] for m in result.create] == ["n-20261204-0003"]
    assert result.stop == ["n-20261204-0001"]
    assert [(m.time, m.reason) for m in result.status.missed] == [(at(2), "Replaced")]


def test_allow_runs_side_by_side() -> None:
    sched = every_minute(concurrencyPolicy="Allow")
    status = ScheduleStatus(last_schedule_time=at(1))
    active = [Run("n-20261204-0001", at(1), "Running")]
    result = tick("n", "ns", sched, status, T0, active, at(2.5))
    assert [m["metadata"]["name"] for m in result.create] == ["n-20261204-0002"]
    assert result.stop == [] and result.status.active_count == 2


def test_a_suspended_schedule_starts_nothing_and_keeps_failed_runs_longer() -> None:
    sched = every_minute(suspend=True, historyLimit={"succeeded": 1, "failed": 2})
    ends = ["Succeeded", "Failed", "Succeeded", "Stopped", "Failed", "Succeeded", "Running"]
    runs = [Run(f"n-{i}", at(i), phase) for i, phase in enumerate(ends)]
    result = tick("n", "ns", sched, ScheduleStatus(last_schedule_time=at(1)), T0, runs, at(9))
    assert result.create == [] and result.status.next_schedule_time is None
    assert sorted(result.delete) == ["n-0", "n-1", "n-2"]  # keeps n-5 and n-3, n-4


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"schedule": "61 * * * *"}, "schedule '61 * * * *'"),
        ({"schedule": "* * *"}, "schedule '* * *'"),
        ({"timeZone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"concurrencyPolicy": "Sometimes"}, "concurrencyPolicy"),
        ({"execution": {"workflow": {"tasks": []}}}, "execution"),
    ],
)
def test_admission_refuses_a_bad_schedule_naming_the_problem(fields: Any, problem: str) -> None:
    body = {"schedule": "0 2 * * *", "execution": {"workflowRef": {"name": "r"}}, **fields}
    found = schedule_verdict(body)
    assert found and problem in found[0]


def test_times_passed_while_suspended_are_not_made_up_on_resume() -> None:
    sched = every_minute(concurrencyPolicy="Allow")
    paused = every_minute(concurrencyPolicy="Allow", suspend=True)
    status = ScheduleStatus(last_schedule_time=at(1))
    held = tick("n", "ns", paused, status, T0, [], at(10.5))
    assert held.create == [] and held.status.last_schedule_time == at(10)
    resumed = tick("n", "ns", sched, held.status, T0, [], at(11.2))
    assert [m["metadata"]["name"] for m in resumed.create] == ["n-20261204-0011"]
