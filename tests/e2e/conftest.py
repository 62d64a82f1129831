"""The operator under test: a real process against the test cluster, that tests may
SIGKILL and start again."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localcluster.operator import OperatorExited, OperatorProcess
from support import Cluster

WEBHOOK_PORT = int(os.environ.get("HEADWAY_TEST_WEBHOOK_PORT", "19443"))


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, running for the whole session (tests that kill it start it again)."""
    from headway.shell.install import install_crds

    install_crds(cluster.kube)
    log_dir = tmp_path_factory.mktemp("operator")
    running = OperatorProcess(cluster.kubeconfig, log_dir / "operator.log", WEBHOOK_PORT)
    try:
        running.start()
    except OperatorExited as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        running.stop()
        print(f"operator log: {running.log_path}")
