"""What a recovery will do, before it is asked for: the engine's own decision
(``core.recovery.recover``) applied to the Execution as it is now, and the words the
person confirms."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

from headway.core.recovery import Order, Rejected, recover
from headway.models.execution import ExecutionStatus

STEP_WARNING = (
    "Re-triggering this step will only re-execute the selected step. "
    "This action may affect the overall status of the workflow."
)
FLOW_WARNING = (
    "Re-triggering this step will also execute the remaining flow of the workflow. "
    "This action may affect the overall status of the workflow."
)
OUTPUTS_WARNING = (
    "Providing outputs marks the step Succeeded with the outputs given, and the remaining "
    "flow of the workflow continues from it."
)


@dataclass(frozen=True)
class Preview:
    tasks: list[str]  # what will rerun (or, for ProvideOutputs, be resolved), in DAG order
    warning: str
    problem: str | None = None  # why the operator would reject it now


def preview(status: ExecutionStatus, order: Order, now: datetime.datetime) -> Preview:
    """The recovery ``order`` applied to ``status`` as the operator would apply it."""
    warning = {"Step": STEP_WARNING, "Flow": FLOW_WARNING}.get(order.mode, OUTPUTS_WARNING)
    # The preview stands in for the verified requester: the operator checks the real one.
    result = recover(status, dataclasses.replace(order, by=order.by or "you"), now)
    if isinstance(result, Rejected):
        return Preview([], warning, result.message)
    return Preview(list(result.tasks), warning)
