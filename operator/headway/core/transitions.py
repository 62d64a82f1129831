"""The planner's own transitions, which its mixins (maps, conditions) call: declared
once here, defined by ``plan._Planner``."""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from typing import Literal

from headway.models.execution import TaskStatus

Unit = tuple[str, int | None]  # a task (None) or one item of a map task


class Transitions(ABC):
    @abstractmethod
    def state(self, unit: Unit) -> TaskStatus: ...
    @abstractmethod
    def fail(self, unit: Unit, reason: str, message: str, exit_code: int | None = None,
             finished: datetime.datetime | None = None,
             retry: bool = True) -> None: ...  # fmt: skip
    @abstractmethod
    def record(self, event: str, unit: Unit | None = None, attempt: int | None = None,
               message: str | None = None) -> None: ...  # fmt: skip
    @abstractmethod
    def emit(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None: ...
    @abstractmethod
    def halted(self) -> bool: ...
