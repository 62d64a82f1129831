"""Pages of a map's item outputs kept outside the Execution, in OutputPage objects it
owns, once the status would hold more than ``items.INLINE_OUTPUTS_BYTES`` of them.

The status keeps each stored page's digest; the planner works on the status with the
pages put back (``hydrate``), and the shell writes a page (``changed``) before the status
that names its new digest, so a crash between the two loses nothing: the status still
holds what it held, and the next pass writes the page again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from headway.core import items as items_
from headway.core.naming import label_value
from headway.core.render import (
    LABEL_EXECUTION,
    LABEL_EXECUTION_UID,
    LABEL_TASK,
    Owner,
    owner_reference,
)
from headway.models.base import API_VERSION
from headway.models.execution import ExecutionStatus

JSON = dict[str, Any]
LABEL_PAGE = "headway.dev/page"
Found = Mapping[tuple[str, str], tuple[str, dict[str, Any]]]  # (task, page) -> digest, outputs


@dataclass(frozen=True)
class PageWrite:
    """One page to write: its object's name and the whole object."""

    name: str
    manifest: JSON


def manifest(owner: Owner, task: str, page: str, outputs: dict[str, Any], digest: str) -> JSON:
    name = items_.page_name(owner.name, task, page)
    return {
        "apiVersion": API_VERSION,
        "kind": "OutputPage",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": {
                LABEL_EXECUTION: label_value(owner.name),
                LABEL_EXECUTION_UID: owner.uid,
                LABEL_TASK: task,
                LABEL_PAGE: page,
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "execution": owner.name,
            "task": task,
            "page": int(page),
            "digest": digest,
            "outputs": outputs,
        },
    }


def changed(owner: Owner, new: ExecutionStatus, old: ExecutionStatus) -> list[PageWrite]:
    """The stored pages whose digest differs from what ``old`` recorded: to write before
    ``new`` is."""
    writes = []
    for task, state in new.tasks.items():
        if state.map is None or not state.map.stored:
            continue
        before = old.tasks.get(task)
        recorded = before.map.stored if before is not None and before.map is not None else {}
        for page, digest in state.map.stored.items():
            if recorded.get(page) != digest:
                outputs = state.map.outputs.get(page, {})
                body = manifest(owner, task, page, outputs, digest)
                writes.append(PageWrite(body["metadata"]["name"], body))
    return writes


def missing(status: ExecutionStatus, found: Found) -> list[str]:
    """Put every stored page back into ``status`` (in place) from ``found``; the names of
    the pages not found as the status records them, as ``task/page``."""
    lost = []
    for task, state in status.tasks.items():
        if state.map is not None and state.map.stored:
            lost += [f"{task}/{p}" for p in items_.hydrate(state.map, task, found)]
    return lost


def needs(status: ExecutionStatus) -> bool:
    """Whether some stored page is not in ``status`` yet."""
    return any(
        state.map is not None and any(p not in state.map.outputs for p in state.map.stored)
        for state in status.tasks.values()
    )


def read(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """OutputPage objects as ``Found``."""
    found = {}
    for obj in objects:
        spec = obj.get("spec") or {}
        outputs = spec.get("outputs")
        found[(str(spec.get("task")), str(spec.get("page")))] = (
            str(spec.get("digest")),
            outputs if isinstance(outputs, dict) else {},
        )
    return found
