"""Leader election: every replica watches and serves webhooks; only the Lease holder
reconciles. A replica that takes the Lease queues every Execution it knows (its caches
are warm, so it takes over in one pass); a leader that cannot renew in time stops the
process, as client-go's leader election does, and the Deployment starts it again."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from headway.core.lease import still_leading
from headway.shell.lease import LeaseClient

log = logging.getLogger("headway.leader")


@dataclass(frozen=True)
class Election:
    namespace: str
    lease: str
    identity: str
    duration_seconds: int = 15

    @property
    def retry_seconds(self) -> float:
        return self.duration_seconds / 5

    @property
    def renew_deadline_seconds(self) -> float:
        return self.duration_seconds * 2 / 3


async def lead(
    client: LeaseClient,
    election: Election,
    on_lead: Callable[[], None],
    on_lost: Callable[[], None],
    clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> None:
    """Try to hold the Lease forever: ``on_lead`` once it is ours, ``on_lost`` (then
    return) if a renewal did not go through within the renew deadline."""
    leading, renewed = False, None
    while True:
        now = clock()
        held = await asyncio.to_thread(client.try_hold, now)
        if held:
            renewed = now
            if not leading:
                leading = True
                log.info("leading as %s", election.identity)
                on_lead()
        elif leading and not still_leading(renewed, clock(), election.renew_deadline_seconds):
            log.error("lost the lease %s/%s: stopping", election.namespace, election.lease)
            on_lost()
            return
        await asyncio.sleep(election.retry_seconds)
