"""Schedules end to end: a once-a-minute Schedule makes runs named from their times; the
operator stopped across a scheduled time catches up exactly once; a backfill creates each
run of a window once, and a second one none; a Schedule's author must be allowed to
create Executions — against the chart-installed operator, with ``kubectl headway``."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest

from headway.shell.kube import KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import OUT, READER, WF, Cluster, create, grant, run, wait_for

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]
RUNNER = ("headway-view", "headway-run")


def schedule(name: str, **spec: Any) -> JSON:
    return {
        "apiVersion": WF,
        "kind": "Schedule",
        "metadata": {"name": name},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Allow",
            "startingDeadlineSeconds": 600,
            "execution": {"workflowRef": {"name": "tick"},
                          "params": {"day": "{{ schedule.date }}"}},
            **spec,
        },
    }  # fmt: skip


def setup(cluster: Cluster, namespace: str) -> None:
    grant(cluster, namespace, "alice", *RUNNER)
    create(cluster.kube, namespace, {
        "apiVersion": WF, "kind": "Workflow", "metadata": {"name": "tick"},
        "spec": {"params": [{"name": "day"}], "taskDefaults": {"image": "python:3.12-slim"},
                 "tasks": [{"name": "t", "command": ["sh", "-c", f'echo "{{}}" > {OUT}'],
                            "env": [{"name": "DAY", "value": "{{ params.day }}"}]}]},
    })  # fmt: skip


def runs(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """The Schedule's runs: name -> scheduled time."""
    found = cluster.kube.get(
        path_of(WF, "executions", namespace), labelSelector=f"headway.dev/schedule={name}"
    )["items"]
    return {e["metadata"]["name"]: e["metadata"]["annotations"]["headway.dev/scheduled-time"]
            for e in found}  # fmt: skip


def name_of(schedule_name: str, when: str) -> str:
    moment = datetime.datetime.fromisoformat(when).astimezone(datetime.UTC)
    return f"{schedule_name}-{moment:%Y%m%d-%H%M}"


def test_a_schedule_makes_runs_named_from_their_times_and_catches_up_once(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    setup(cluster, namespace)
    grant(cluster, namespace, "bob", *READER)
    with pytest.raises(KubeError) as refused:
        create(cluster.as_user("bob"), namespace, schedule("minute"))
    assert refused.value.status == 403 and '"schedules"' in refused.value.message
    create(cluster.as_user("alice"), namespace, schedule("minute"))
    first = wait_for(lambda: runs(cluster, namespace, "minute"), "a first run", timeout=150)
    for run_name, when in first.items():
        assert run_name == name_of("minute", when)
        assert datetime.datetime.fromisoformat(when).second == 0
    [one] = first
    run_obj = cluster.kube.get(path_of(WF, "executions", namespace, one))
    assert run_obj["spec"]["params"]["day"] == first[one][:10]

    # The operator down across the next scheduled time: on its return, that run is
    # made once, and no time is skipped or doubled.
    operator.stop()
    latest = max(datetime.datetime.fromisoformat(t) for t in first.values())
    boundary = latest + datetime.timedelta(minutes=1)
    wait_for(lambda: datetime.datetime.now(datetime.UTC) > boundary + datetime.timedelta(seconds=5),
             "the next scheduled time to pass with no operator", timeout=120)  # fmt: skip
    operator.start()
    missed = name_of("minute", boundary.isoformat())
    wait_for(lambda: missed in runs(cluster, namespace, "minute"), "the missed run", timeout=120)
    seen = runs(cluster, namespace, "minute")
    times = sorted(datetime.datetime.fromisoformat(t) for t in seen.values())
    steps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert steps <= {60.0}, f"a time skipped or doubled: {sorted(seen)}"
    listed = run(cluster, "alice", namespace, "schedules")
    assert listed.returncode == 0, listed.stderr
    assert "minute" in listed.stdout and missed in listed.stdout


def test_a_backfill_creates_each_run_of_a_window_once_and_a_second_one_none(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    setup(cluster, namespace)
    create(cluster.as_user("alice"), namespace, schedule("back", suspend=True))
    window = ("2026-11-30T23:58:00Z", "2026-12-01T00:01:00Z")
    dry = run(cluster, "alice", namespace, "backfill", "back", "--from", window[0], "--to",
              window[1], "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would create") == 4 and not runs(cluster, namespace, "back")
    done = run(cluster, "alice", namespace, "backfill", "back", "--from", window[0], "--to",
               window[1])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 created, 0 already there" in done.stdout
    assert sorted(runs(cluster, namespace, "back")) == [
        "back-20261130-2358", "back-20261130-2359", "back-20261201-0000", "back-20261201-0001",
    ]  # fmt: skip
    again = run(cluster, "alice", namespace, "backfill", "back", "--from", window[0], "--to",
                window[1])  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "0 created, 4 already there" in again.stdout
    assert len(runs(cluster, namespace, "back")) == 4
