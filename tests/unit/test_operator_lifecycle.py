"""The operator's own tasks end with it: nothing it started on taking the lead outlives
its shutdown."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from headway.handlers.main import Operator
from headway.shell.kube import KubeError


class SlowKube:
    """Answers a LIST only once released (then with no answer at all)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def get(self, path: str, **_: Any) -> Any:
        self.release.wait(10)
        raise KubeError(0, "GET", path, "no answer")


def test_the_catch_up_begun_on_taking_the_lead_is_cancelled_on_shutdown() -> None:
    async def scenario() -> None:
        kube = SlowKube()
        operator = Operator(kube=kube)  # type: ignore[arg-type]
        operator.lead()
        await asyncio.sleep(0.05)
        assert operator.resync is not None and not operator.resync.done()
        await operator.close()
        assert operator.resync.cancelled()
        kube.release.set()

    asyncio.run(scenario())
