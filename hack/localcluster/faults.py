"""Fault injection for tests on the local cluster.

Each local node's kubelet serves a small control API on loopback; this module
is its client::

    from localcluster.faults import Faults

    faults = Faults()                                  # the cluster in .cluster/
    faults.kill_container("ns", "my-pod")              # SIGKILL its processes (exit 137)
    faults.lose_node("headway-node-1")                 # stop heartbeats and status reports
    faults.restore_node("headway-node-1")
    with faults.image_pull_failure("python:3.12"):     # pods with images starting so
        ...                                            # stay Pending: ErrImagePull/ImagePullBackOff
    faults.restart_apiserver(down_seconds=3)           # SIGKILL kube-apiserver, start it again

Images from a registry under the reserved ``.invalid`` domain (for example
``registry.invalid/app:1``) never pull on any cluster, the local one included,
so tests that only need an unpullable image need no fault at all.

The faults exist only on the local cluster; against another cluster each call
raises :class:`FaultsUnavailable` naming the reason, never silently passes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localcluster.layout import HOST, Layout


class FaultsUnavailable(RuntimeError):
    """The targeted kubelet does not serve the control API (not the local cluster, or down)."""


class Faults:
    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or Layout.default()

    def _call(self, node: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"http://{HOST}:{self.layout.kubelet_control_port(node)}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise FaultsUnavailable(f"{node}: {method} {path} -> {error.code} {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise FaultsUnavailable(
                f"no local kubelet control API for {node} at {url} ({error}); "
                "fault injection needs the local cluster (make cluster-up)"
            ) from None

    def nodes(self) -> list[str]:
        return self.layout.node_names()

    def pods(self, node: str) -> list[dict[str, Any]]:
        """The pods a node runs, with their containers' pids."""
        return list(self._call(node, "GET", "/pods")["pods"])

    def kill_container(
        self, namespace: str, pod: str, container: str | None = None, signal: str = "KILL"
    ) -> str:
        """Send ``signal`` to a running pod's container (all containers when None), as if
        it crashed or was OOM-killed; return the node it ran on."""
        errors = []
        for node in self.nodes():
            try:
                self._call(
                    node,
                    "POST",
                    "/kill",
                    {"namespace": namespace, "pod": pod, "container": container, "signal": signal},
                )
                return node
            except FaultsUnavailable as error:
                errors.append(str(error))
        raise FaultsUnavailable("; ".join(errors))

    def lose_node(self, node: str) -> None:
        """The node stops heartbeating and reporting (a network partition): its pods'
        processes go on, but the control plane hears nothing until :meth:`restore_node`."""
        self._call(node, "POST", "/partition", {"enabled": True})

    def restore_node(self, node: str) -> None:
        self._call(node, "POST", "/partition", {"enabled": False})

    def block_images(self, prefix: str, blocked: bool = True) -> None:
        """Images starting with ``prefix`` fail to pull on every node while blocked."""
        for node in self.nodes():
            self._call(node, "POST", "/images", {"prefix": prefix, "blocked": blocked})

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """SIGKILL the local kube-apiserver, keep it down for ``down_seconds``, start it
        again and wait until it serves (its watches and clients see the outage)."""
        from localcluster import cluster

        try:
            cluster.restart(self.layout, "kube-apiserver", down_seconds)
        except cluster.ClusterError as error:
            raise FaultsUnavailable(
                f"cannot restart the API server ({error}); this fault needs the local cluster"
            ) from None

    @contextmanager
    def image_pull_failure(self, prefix: str) -> Iterator[None]:
        self.block_images(prefix, True)
        try:
            yield
        finally:
            self.block_images(prefix, False)
