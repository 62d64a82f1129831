"""The operator under test: a real process against the test cluster, that tests may
SIGKILL and start again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import Cluster, RunningOperator


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """The operator, running for the whole session (tests that kill it start it again)."""
    from headway.shell.install import install_crds

    install_crds(cluster.kube)
    log_dir = tmp_path_factory.mktemp("operator")
    running = RunningOperator(cluster, log_dir / "operator.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        print(f"operator log: {running.log_path}")
