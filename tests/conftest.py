"""Fixtures for every test: the cluster (session-scoped) and a namespace per test.

The cluster is the local one in ``.cluster/`` — started here when it is not
running, and stopped again at the end if this session started it — or, when
``HEADWAY_TEST_KUBECONFIG`` names a kubeconfig, that cluster (kind, a real
one). If no cluster can be had, the tests that need one fail with the reason;
they never skip.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from headway.shell.kube import Kube
from localcluster import cluster as localcluster
from localcluster.layout import TEST_USERS, Layout
from support import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    external = os.environ.get("HEADWAY_TEST_KUBECONFIG")
    layout = Layout.default()
    if external:
        users_dir = Path(os.environ.get("HEADWAY_TEST_USERS_DIR", Path(external).parent / "users"))
        users = {u: users_dir / f"{u}.kubeconfig" for u in TEST_USERS}
        yield Cluster(Path(external), Kube(external), users, local=False, layout=layout)
        return
    started = localcluster.running_pid(layout, "kube-apiserver") is None
    try:
        localcluster.up(layout)
    except localcluster.ClusterError as error:
        pytest.fail(f"the local cluster could not start: {error}", pytrace=False)
    users = {u: layout.user_kubeconfig(u) for u in TEST_USERS}
    try:
        yield Cluster(layout.kubeconfig, Kube(layout.kubeconfig), users, local=True, layout=layout)
    finally:
        if started and not os.environ.get("HEADWAY_KEEP_CLUSTER"):
            localcluster.down(layout)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted afterwards."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    cluster.kube.create(
        "/api/v1/namespaces", {"metadata": {"name": name, "labels": {"headway.dev/test": "true"}}}
    )
    try:
        yield name
    finally:
        cluster.kube.delete(f"/api/v1/namespaces/{name}")
