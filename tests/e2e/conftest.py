"""The operator under test: installed with the chart (its own ServiceAccount, so the
chart's RBAC is what it runs with), two replicas electing a leader. Tests may kill it
(SIGKILL of its pods' processes) and start it again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcluster.chart_operator import ChartOperator, OperatorDown
from support import Cluster

# A short lease keeps the many kill-and-start cycles of the fault tests quick.
TEST_VALUES: dict[str, Any] = {"operator": {"leaderElection": {"leaseDurationSeconds": 5}}}


def chart_values(cluster: Cluster) -> dict[str, Any]:
    """The values for this cluster: another cluster's image and command come from the
    JSON file ``HEADWAY_TEST_CHART_VALUES`` names (the local cluster's are built in)."""
    values = dict(TEST_VALUES)
    extra = os.environ.get("HEADWAY_TEST_CHART_VALUES")
    if extra:
        values.update(json.loads(Path(extra).read_text()))
    elif not cluster.local:
        pytest.fail("set HEADWAY_TEST_CHART_VALUES to the chart values for that cluster")
    return values


@pytest.fixture(scope="session")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartOperator]:
    """The chart-installed operator, for the whole session (left installed afterwards)."""
    running = ChartOperator(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("operator"),
        chart_values(cluster),
        cluster.faults if cluster.local else None,
    )
    try:
        running.start()
    except OperatorDown as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        running.keep_logs()
        print(f"operator logs: {running.log_path}")
