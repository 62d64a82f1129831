"""Pod IPs for the local kubelet: pods share the host's network namespace, so a pod that
serves (declares a container port) gets an address of its own from the node's pod range,
added to the loopback interface. Endpoints may not hold loopback (127/8) addresses, and
the API server reaches webhooks and Services through Endpoints, so those addresses are
from a private range routed locally instead. Pods that serve nothing keep the node's
address, as many pods on one host would in host networking.

Adding addresses takes root, which the kubelet already needs (mount namespaces)."""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading
from typing import Any

from localcluster.kubelet.status import HOST_IP

JSON = dict[str, Any]
log = logging.getLogger("kubelet.network")


def serves(pod: JSON) -> bool:
    """Does the pod need an address of its own (not host networking, declares ports)?"""
    spec = pod["spec"]
    if spec.get("hostNetwork"):
        return False
    return any(c.get("ports") for c in spec.get("containers") or [])


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


class PodNetwork:
    """Hands out the addresses of ``cidr`` to pods and takes them back."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._free = [str(a) for a in list(self.network.hosts())[1:]]  # .1 stays unused
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Drop addresses of this range left on loopback by a kubelet that stopped."""
        shown = _ip("-o", "-4", "addr", "show", "dev", "lo").stdout
        for line in shown.splitlines():
            address = line.split()[3].split("/")[0]
            if ipaddress.ip_address(address) in self.network:
                _ip("addr", "del", f"{address}/32", "dev", "lo")

    def allocate(self) -> str:
        with self._lock:
            if not self._free:
                raise RuntimeError(f"pod range {self.network} is exhausted")
            address = self._free.pop(0)
        result = _ip("addr", "add", f"{address}/32", "dev", "lo")
        if result.returncode != 0 and "File exists" not in result.stderr:
            with self._lock:
                self._free.append(address)
            raise RuntimeError(f"cannot add {address} to lo: {result.stderr.strip()}")
        return address

    def release(self, address: str) -> None:
        if address == HOST_IP or ipaddress.ip_address(address) not in self.network:
            return
        _ip("addr", "del", f"{address}/32", "dev", "lo")
        with self._lock:
            self._free.append(address)
