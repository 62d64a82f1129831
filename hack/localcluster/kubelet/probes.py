"""Readiness probes, as the kubelet runs them: ``httpGet`` and ``tcpSocket`` against the
pod's address, every ``periodSeconds``, ready after ``successThreshold`` passes and
unready after ``failureThreshold`` failures. (Liveness probes are not run locally.)"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


def _port(probe_port: Any, container: JSON) -> int:
    if isinstance(probe_port, int) or str(probe_port).isdigit():
        return int(probe_port)
    for port in container.get("ports") or []:
        if port.get("name") == probe_port:
            return int(port["containerPort"])
    raise ValueError(f"no port named {probe_port!r}")


def check(probe: JSON, container: JSON, address: str) -> bool:
    """One probe: True when it passes."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = str(get.get("scheme", "HTTP")).lower()
            url = f"{scheme}://{get.get('host') or address}:{_port(get['port'], container)}"
            url += get.get("path", "/")
            context = ssl._create_unverified_context() if scheme == "https" else None
            with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
                return 200 <= int(response.status) < 400
        if "tcpSocket" in probe:
            port = _port(probe["tcpSocket"]["port"], container)
            with socket.create_connection((address, port), timeout=timeout):
                return True
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return True  # exec and gRPC probes are not run locally: taken as passing


@dataclass
class Prober:
    """The readiness of one container, probed when due."""

    probe: JSON
    started: float = field(default_factory=time.monotonic)
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    ready: bool = False

    def __post_init__(self) -> None:
        self.next_at = self.started + float(self.probe.get("initialDelaySeconds", 0))

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, passed: bool, now: float) -> bool:
        """Count one result; returns whether readiness changed."""
        self.next_at = now + float(self.probe.get("periodSeconds", 10))
        before = self.ready
        if passed:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                self.ready = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                self.ready = False
        return self.ready != before
