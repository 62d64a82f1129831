"""Where the local cluster keeps its state, and the ports it listens on.

Everything lives under one directory (``.cluster/`` at the repository root by
default, ``HEADWAY_CLUSTER_DIR`` to move it). All listeners are on loopback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_USERS = ("alice", "bob", "carol")
ADMIN_USER = "headway-admin"
HOST = "127.0.0.1"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"HEADWAY_CLUSTER_{name}_PORT", default))


@dataclass(frozen=True)
class Layout:
    """Paths and ports of one local cluster."""

    root: Path
    node_count: int = int(os.environ.get("HEADWAY_CLUSTER_NODES", "2"))
    apiserver_port: int = _port("APISERVER", 16443)
    etcd_port: int = _port("ETCD", 12379)
    etcd_peer_port: int = _port("ETCD_PEER", 12380)
    controller_manager_port: int = _port("CONTROLLER_MANAGER", 10257)
    scheduler_port: int = _port("SCHEDULER", 10259)
    kubelet_base_port: int = _port("KUBELET", 10250)
    kubelet_control_base_port: int = _port("KUBELET_CONTROL", 10350)

    @staticmethod
    def default() -> Layout:
        return Layout(Path(os.environ.get("HEADWAY_CLUSTER_DIR", REPO_ROOT / ".cluster")).resolve())

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.apiserver_port}"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def users(self) -> Path:
        return self.root / "users"

    @property
    def internal(self) -> Path:
        """Kubeconfigs of the control plane's own components."""
        return self.root / "components"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def token_file(self) -> Path:
        return self.pki / "tokens.csv"

    @property
    def bin_link(self) -> Path:
        """A symlink to the cached binaries, so ``.cluster/bin/kubectl`` works."""
        return self.root / "bin"

    def node_names(self) -> list[str]:
        return [f"headway-node-{i + 1}" for i in range(self.node_count)]

    def node_dir(self, node: str) -> Path:
        return self.root / "nodes" / node

    def kubelet_port(self, node: str) -> int:
        return self.kubelet_base_port + self.node_names().index(node)

    def kubelet_control_port(self, node: str) -> int:
        return self.kubelet_control_base_port + self.node_names().index(node)

    def pod_cidr(self, node: str) -> str:
        """Addresses for the node's serving pods (see ``kubelet.network``)."""
        return f"10.244.{self.node_names().index(node) + 1}.0/24"

    def user_kubeconfig(self, user: str) -> Path:
        return self.users / f"{user}.kubeconfig"
