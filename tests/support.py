"""Helpers shared by the tests: waiting on conditions, never on fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from headway.shell.kube import Kube
from localcluster.faults import Faults
from localcluster.layout import Layout

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    pass


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 120.0, interval: float = 0.25
) -> T:
    """Poll ``check`` until it returns something truthy and return it; fail naming ``what``
    (and the last value seen) after ``timeout`` seconds. Timeouts are generous on purpose:
    speed belongs in benchmarks, not in tests."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise WaitTimeoutError(
        f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}"
    )


@dataclass
class Cluster:
    """The cluster under test, as the admin, with the test users' kubeconfigs."""

    kubeconfig: Path
    kube: Kube
    users: dict[str, Path]
    local: bool
    layout: Layout

    def as_user(self, user: str) -> Kube:
        return Kube(self.users[user])

    @property
    def faults(self) -> Faults:
        return Faults(self.layout)

    @property
    def kubectl(self) -> str:
        if self.local:
            return str(self.layout.bin_link / "kubectl")
        return "kubectl"
