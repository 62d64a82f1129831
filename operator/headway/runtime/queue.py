"""A work queue of Execution keys, as in controller-runtime.

A key is never processed by two workers at once; a key added while it is being
processed is processed once more afterwards; many adds before a worker gets to
it coalesce into one run. A run returns when to look again (a retry back-off,
a pending timeout); a run that raises is retried with a growing delay.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger("headway.queue")
MAX_ERROR_DELAY = 60.0


class WorkQueue(Generic[K]):
    def __init__(
        self,
        process: Callable[[K], Awaitable[datetime.datetime | None]],
        workers: int = 4,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._process = process
        self._workers = workers
        self._clock = clock
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._added: dict[K, float] = {}  # key -> when it was first added, for the latency
        self.on_start: Callable[[float], None] = lambda latency: None
        # Cleared: workers take nothing (a replica that does not lead); keys still gather.
        self.open = asyncio.Event()
        self.open.set()

    def depth(self) -> int:
        return len(self._dirty)

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._added.setdefault(key, time.monotonic())
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: K, seconds: float) -> None:
        """Add ``key`` after a delay; an earlier pending timer for it wins."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, seconds)
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def forget(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(key, None)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            await self.open.wait()
            self._dirty.discard(key)
            added = self._added.pop(key, None)
            if added is not None:
                self.on_start(time.monotonic() - added)
            self._processing.add(key)
            try:
                wake = await self._process(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(0.5 * 2**failures, MAX_ERROR_DELAY)
                log.exception(
                    "reconciling %s failed (%d in a row); retrying in %.1fs", key, failures, delay
                )
                self.add_after(key, delay)
            else:
                self._failures.pop(key, None)
                if wake is not None:
                    self.add_after(key, (wake - self._clock()).total_seconds())
            finally:
                self._processing.discard(key)
                if key in self._dirty:
                    self._queue.put_nowait(key)

    async def run(self) -> None:
        await asyncio.gather(*(self._work() for _ in range(self._workers)))
