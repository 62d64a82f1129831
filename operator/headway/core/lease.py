"""Leader election on a ``coordination.k8s.io/v1`` Lease, decided purely: who holds it,
when it was last renewed, and ``now`` say whether this replica renews it, takes it over,
or waits. The shell reads and writes the Lease with a resourceVersion precondition, so
two replicas that decide to take it at once cannot both succeed."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

Move = Literal["renew", "acquire", "wait"]


@dataclass(frozen=True)
class LeaseView:
    """The parts of a Lease's spec that decide leadership."""

    holder: str | None
    renewed: datetime.datetime | None
    duration_seconds: int
    transitions: int = 0


def next_move(lease: LeaseView | None, me: str, now: datetime.datetime) -> Move:
    """``renew`` while we hold it; ``acquire`` when nobody does or the holder let it
    expire (no renewal within its duration); otherwise ``wait``."""
    if lease is None or not lease.holder:
        return "acquire"
    if lease.holder == me:
        return "renew"
    if lease.renewed is None:
        return "acquire"
    expiry = lease.renewed + datetime.timedelta(seconds=lease.duration_seconds)
    return "acquire" if now >= expiry else "wait"


def still_leading(
    last_renewal: datetime.datetime | None, now: datetime.datetime, deadline: float
) -> bool:
    """A leader that could not renew within ``deadline`` seconds must stop reconciling:
    another replica may take the Lease once it expires."""
    return last_renewal is not None and (now - last_renewal).total_seconds() < deadline
