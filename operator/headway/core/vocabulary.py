"""Headway's words, said once: phases and their sets, labels and annotations, the seeds'
confirmation texts. The engine, the CLI and the console's server import them from here;
the console's page gets them in a file generated from this one
(``headway vocabulary``, run by ``make console``; a test fails when it drifts)."""

from __future__ import annotations

import json
from typing import get_args

from headway.core.history import AUDIT_EVENTS
from headway.core.render import (
    ANNOTATION_KEY,
    LABEL_ATTEMPT,
    LABEL_EXECUTION,
    LABEL_EXECUTION_UID,
    LABEL_TASK,
)
from headway.models.execution import ExecutionPhase, TaskPhase
from headway.models.recovery import RecoveryPhase

EXECUTION_PHASES: tuple[str, ...] = get_args(ExecutionPhase)
TASK_PHASES: tuple[str, ...] = get_args(TaskPhase)
REQUEST_PHASES: tuple[str, ...] = get_args(RecoveryPhase)

TASK_ACTIVE = frozenset({"Running", "Retrying"})  # an attempt is on its way
TASK_STUCK = frozenset({"Failed", "Blocked", "Stopped"})  # waits for a person
# Nothing runs (a Suspended run's Jobs may still be finishing: not in here).
EXECUTION_FINISHED = frozenset({"Succeeded", "Failed", "Blocked", "Paused", "Stopped"})
REQUEST_FINISHED = frozenset({"Succeeded", "Failed", "Rejected"})  # a request is over

# The seeds' confirmation texts, one per recovery action the CLI and the console offer.
STEP_WARNING = (
    "Re-triggering this step will only re-execute the selected step. "
    "This action may affect the overall status of the workflow."
)
FLOW_WARNING = (
    "Re-triggering this step will also execute the remaining flow of the workflow. "
    "This action may affect the overall status of the workflow."
)
RECOVER_WARNING = (
    "Recovering the workflow re-executes every failed or blocked step and the remaining "
    "flow after them. This action may affect the overall status of the workflow."
)
OUTPUTS_WARNING = (
    "Providing outputs marks the step Succeeded with the outputs given, and the remaining "
    "flow of the workflow continues from it."
)
PHASE_CHECKBOX = "Allow the workflow status to be updated"

__all__ = [
    "ANNOTATION_KEY",
    "AUDIT_EVENTS",
    "LABEL_ATTEMPT",
    "LABEL_EXECUTION",
    "LABEL_EXECUTION_UID",
    "LABEL_TASK",
    "typescript",
]


STOP_WARNING = (
    "Every running and pending Job of this run is deleted now; its finally tasks run, and "
    "it ends Stopped. To run it again, resume it, then recover it."
)
SUSPEND_WARNING = "Nothing new starts; the Jobs running now finish. Resume it to go on."
RESUME_WARNING = "The run goes on where it was. A stopped run stays Stopped until it is recovered."


def typescript() -> str:
    """The page's copy of the words it shows or compares against, as a TypeScript module."""
    values = {
        "EXECUTION_PHASES": list(EXECUTION_PHASES),
        "TASK_PHASES": list(TASK_PHASES),
        "REQUEST_FINISHED": sorted(REQUEST_FINISHED),
        "AUDIT_EVENTS": sorted(AUDIT_EVENTS),
        "PHASE_CHECKBOX": PHASE_CHECKBOX,
    }
    lines = [
        "// Generated from operator/headway/core/vocabulary.py by `headway vocabulary`",
        "// (make console): do not edit; a test fails when it drifts.",
    ]
    lines += [
        f"export const {name} = {json.dumps(value)} as const;" for name, value in values.items()
    ]
    return "\n".join(lines) + "\n"
