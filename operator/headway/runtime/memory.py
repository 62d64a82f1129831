"""What a reconcile keeps about an Execution from one pass to the next, so a pass costs
what changed, not the Execution's size: the status as parsed (reused while the object's
resourceVersion is the one last written or read), the workflow made ready to schedule
(fixed once started), and the facts of its Jobs. Used from worker threads: one Execution
is never reconciled by two at once, and each keeps to its own entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headway.core.context import Prepared, prepare
from headway.core.facts import JobFacts
from headway.core.plan import Since
from headway.core.scan import changed_keys
from headway.models.execution import ExecutionSpec, ExecutionStatus, TaskStatus
from headway.shell.parse import execution_spec

JSON = dict[str, Any]


@dataclass
class Kept:
    resource_version: str
    status: ExecutionStatus
    raw: JSON  # the status exactly as the API server holds it
    prepared: Prepared | None = None
    facts: JobFacts = field(default_factory=JobFacts)
    spec: tuple[int | None, ExecutionSpec | str] | None = None  # (generation, parsed)
    since: Since | None = None  # what the last plan carried out left for the next


@dataclass
class Memory:
    kept: dict[str, Kept] = field(default_factory=dict)  # Execution uid -> what is kept

    def status(self, obj: JSON) -> Kept:
        """The Execution's status, parsed once per resourceVersion."""
        meta, raw = obj["metadata"], obj.get("status") or {}
        version, uid = meta.get("resourceVersion", ""), meta["uid"]
        kept = self.kept.get(uid)
        if kept is not None and kept.resource_version == version:
            return kept
        fresh = Kept(version, ExecutionStatus.model_validate(raw), raw)
        if kept is not None:
            fresh.prepared, fresh.facts, fresh.spec = kept.prepared, kept.facts, kept.spec
            fresh.since = kept.since
        self.kept[uid] = fresh
        return fresh

    def spec(self, kept: Kept, obj: JSON) -> ExecutionSpec | str:
        """The Execution's spec, parsed once per generation (a spec change bumps it)."""
        generation = obj["metadata"].get("generation")
        if kept.spec is None or kept.spec[0] != generation or generation is None:
            kept.spec = (generation, execution_spec(obj))
        return kept.spec[1]

    def prepared(self, kept: Kept) -> Prepared | None:
        """The workflow snapshot made ready: once per Execution (it never changes)."""
        if kept.prepared is None and kept.status.workflow is not None:
            kept.prepared = prepare(kept.status.workflow)
        return kept.prepared

    def wrote(self, uid: str, version: str, status: ExecutionStatus, raw: JSON) -> None:
        """The status just written, under the resourceVersion the API server gave it."""
        kept = self.kept.get(uid)
        self.kept[uid] = Kept(
            version,
            status,
            raw,
            kept.prepared if kept else None,
            kept.facts if kept else JobFacts(),
            kept.spec if kept else None,
            kept.since if kept else None,
        )

    def planned(self, uid: str, since: Since) -> None:
        """A plan was carried out (its status written, or nothing to write): what it left
        for the next pass, whose Job facts count as changed from here on."""
        kept = self.kept.get(uid)
        if kept is not None:
            kept.since = since
            kept.facts.planned()

    def seq_of(self, uid: str) -> int | None:
        """The number of the cache snapshot the Execution's Job facts were last brought up
        to (read on the loop between passes; one pass per Execution at a time)."""
        kept = self.kept.get(uid)
        return kept.facts.seq if kept is not None else None

    def forget(self, uid: str) -> None:
        self.kept.pop(uid, None)


def wire_status(new: ExecutionStatus, old: ExecutionStatus, old_raw: JSON) -> JSON:
    """``new`` as JSON for a whole-status write, serializing only what changed: a task's
    status the pass left untouched (the same object as before) is taken as it was read."""
    out: JSON = new.model_dump(
        by_alias=True, exclude_none=True, mode="json", exclude={"tasks", "workflow"}
    )
    if new.workflow is not None:
        same = new.workflow is old.workflow and "workflow" in old_raw
        out["workflow"] = old_raw["workflow"] if same else new.workflow.wire()
    raw_tasks: JSON = old_raw.get("tasks") or {}
    changed = changed_keys(new.tasks, old.tasks)
    if new.tasks.keys() == raw_tasks.keys() == old.tasks.keys():
        # The common case: the same tasks, a few of them changed; the rest copied in C.
        tasks = dict(raw_tasks)
        tasks.update(
            (name, task_wire(new.tasks[name], old.tasks[name], raw_tasks[name])) for name in changed
        )
    else:
        fresh = set(changed)
        tasks = {
            name: raw_tasks[name] if name in raw_tasks and name not in fresh else state.wire()
            for name, state in new.tasks.items()
        }
    out["tasks"] = tasks
    return out


def task_wire(new: TaskStatus, old: TaskStatus, raw: JSON) -> JSON:
    """One task's status as JSON; a map's items whose state is the object it was are
    taken as they were read (a 10,000-item map changes a few items a pass)."""
    if new.map is None or old.map is None or not isinstance(raw.get("map"), dict):
        return new.wire()
    out = new.model_dump(by_alias=True, exclude_none=True, mode="json", exclude={"map"})
    items, raw_map = new.map, raw["map"]
    raw_items: JSON = raw_map.get("items") or {}
    same = old.map.items
    out["map"] = {
        **items.model_dump(by_alias=True, mode="json", exclude={"outputs", "items"}),
        # JSON as it is (pages of plain dicts), but the pages kept in OutputPages.
        "outputs": {p: o for p, o in items.outputs.items() if p not in items.stored},
        "items": {
            index: raw_items[index]
            if same.get(index) is state and index in raw_items
            else state.wire()
            for index, state in items.items.items()
        },
    }
    return out
