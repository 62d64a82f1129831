"""What a decision asks the shell to do: create or delete a Job, post an Event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

JSON = dict[str, Any]


@dataclass(frozen=True)
class CreateJob:
    """Create one task attempt's Job (``manifest``, which carries the idempotency key the
    adoption check compares) for ``task``'s attempt number ``attempt``."""

    manifest: JSON
    task: str
    attempt: int

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class DeleteJob:
    name: str
    # Background for a stalled attempt (its pods go after it); Foreground for a stop: the
    # Job stays, being deleted, until its pods are gone, so a stopped run shows no Job
    # once nothing of it runs any more.
    propagation: Literal["Background", "Foreground"] = "Background"


@dataclass(frozen=True)
class Emit:
    """A Kubernetes Event on the Execution."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


JobAction = CreateJob | DeleteJob
