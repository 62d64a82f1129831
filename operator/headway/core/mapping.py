"""The map's part of a scheduling pass: expand a ready map task into its items, look at
the items that changed, start Pending ones while ``parallelism`` leaves room, and end
the task once every item has. A mixin of the planner (``plan._Planner``): items run with
the planner's own transitions (launch, fail, stall...), named by a ``Unit``."""

from __future__ import annotations

import datetime
import re
from abc import abstractmethod
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from headway.core import items as items_
from headway.core.context import Context
from headway.core.facts import ObservedJob
from headway.core.history import clip
from headway.core.transitions import Transitions, Unit
from headway.models.execution import ExecutionStatus, MapStatus, TaskStatus
from headway.models.workflow import Task

LAUNCH_BATCH = 200  # a map's items started in one pass: the status is written as they go
ITEM_MARK = "#"  # "task#3": item 3 of a map, where the passes name what to look at
ACTIVE_ITEMS = re.compile("[RT]")


class MapPlanning(Transitions):
    """What the planner does with map tasks. The names declared here are the planner's."""

    context: Context
    status: ExecutionStatus
    tasks: Mapping[str, Task]
    observed: Mapping[str, ObservedJob]
    now: datetime.datetime
    wake: list[datetime.datetime]
    open_items: dict[Unit, TaskStatus]
    item_watch: set[str]
    deadlines: dict[str, datetime.datetime]
    looked: set[str]
    resolved: dict[str, tuple[str, list[Any]]]
    outputs_total: int
    stopped: bool

    # The planner's own transitions and questions, which items share with tasks.
    @abstractmethod
    def peek(self, unit: Unit) -> TaskStatus: ...
    @abstractmethod
    def flush(self, name: str) -> None: ...
    @abstractmethod
    def launch(self, unit: Unit) -> None: ...
    @abstractmethod
    def observe(self, unit: Unit) -> None: ...
    @abstractmethod
    def available(self, task: Task) -> tuple[dict[str, Any], dict[str, Any]]: ...
    @abstractmethod
    def may_start(self, name: str) -> bool: ...
    @abstractmethod
    def room(self) -> bool: ...
    @abstractmethod
    def deadline(self, job: ObservedJob | None) -> datetime.datetime | None: ...

    def visit_map(self, name: str, looks: AbstractSet[int] | None) -> None:
        state = self.status.tasks[name]
        if state.phase == "Pending" and not state.held and self.may_start(name):
            self.expand(name)
            looks = None
        state = self.status.tasks[name]
        if state.phase != "Running" or state.map is None:
            return
        if not self.resolve(name):
            return
        phases = state.map.phases
        indices = (
            [m.start() for m in ACTIVE_ITEMS.finditer(phases)]
            if looks is None
            else sorted(i for i in looks if i < len(phases) and phases[i] in "RT")
        )
        for index in indices:
            self.visit_item((name, index))
        self.flush(name)
        self.start_items(name)
        self.flush(name)
        self.finish_map(name)

    def resolve(self, name: str) -> bool:
        """The map's list and key, once per pass; a list that no longer resolves (the
        status was changed by hand) fails the task, naming why."""
        if name in self.resolved:
            return True
        task = self.tasks[name]
        assert task.map is not None
        inputs, referenced = self.available(task)
        given = {**inputs, **referenced}
        try:
            values = items_.resolve(task.map, self.context.params, given)
        except items_.ItemsError as error:
            self.fail((name, None), "InvalidItems", str(error), retry=False)
            return False
        base = items_.base_key(self.context.owner.uid, name, task.map, self.context.params, given)
        self.resolved[name] = (base, values)
        return True

    def expand(self, name: str) -> None:
        """A ready map: resolve its list and set up its items, keeping every item that
        Succeeded before with the same key (a recovery, or the list's task rerun)."""
        unit: Unit = (name, None)
        if not self.resolve(name):
            return
        base, values = self.resolved[name]
        keys = [items_.item_key(base, i, v) for i, v in enumerate(values)]
        old = self.status.tasks[name].map
        limit = self.status.outputs_limit
        spec = self.tasks[name].map
        # A literal list's items were set aside when the Execution started (spec.py).
        literal = spec is not None and isinstance(spec.items, list)
        need = 0 if literal else len(values) * items_.ITEM_BYTES
        new_limit = None if limit is None else limit + (old.reserved if old else 0) - need
        fresh = items_.expand(old, keys)
        held = self.outputs_total - items_.outputs_size(old) + items_.outputs_size(fresh)
        if new_limit is not None and new_limit < held:
            self.fail(
                unit,
                "TooManyItems",
                f"{len(values)} items need {need} bytes of status, and the execution has "
                f"{max(0, limit or 0)} left (split the list over more executions)",
                retry=False,
            )
            return
        fresh.reserved = need
        self.status.outputs_limit, self.outputs_total = new_limit, held
        state = self.state(unit)
        state.phase, state.map, state.attempts = "Running", fresh, state.attempts + 1
        state.started_at, state.finished_at = self.now, None
        state.reason = state.message = state.exit_code = state.outputs = None
        kept = fresh.phases.count("S")
        self.record("Expanded", unit, state.attempts, f"{len(values)} items, {kept} kept")
        self.emit(
            "Normal", "MapExpanded", f"task {name}: {len(values)} items ({kept} kept from before)"
        )

    def visit_item(self, unit: Unit) -> None:
        self.looked.add(f"{unit[0]}{ITEM_MARK}{unit[1]}")
        item = self.peek(unit)
        if item.phase == "Running":
            self.observe(unit)
            item = self.peek(unit)
        if item.phase == "Retrying" and item.next_attempt_at is not None:
            if item.next_attempt_at > self.now:
                self.wake.append(item.next_attempt_at)
            elif self.room() and self.map_room(unit[0]) and not self.halted():
                self.launch(unit)
        self.watch_item(unit)

    def watch_item(self, unit: Unit) -> None:
        """Leave the item for the next pass when something about it must be looked at."""
        item = self.peek(unit)
        if item.phase == "Retrying":
            self.item_watch.add(f"{unit[0]}{ITEM_MARK}{unit[1]}")
        elif item.phase == "Running":
            job = self.observed.get(item.job or "")
            if job is not None and job.quiet:
                return
            mark, due = f"{unit[0]}{ITEM_MARK}{unit[1]}", self.deadline(job)
            if due is not None:
                self.deadlines[mark] = due  # looked at again then, or when its Job changes
            else:
                self.item_watch.add(mark)

    def map_room(self, name: str) -> bool:
        """Whether the map's own ``parallelism`` leaves room for one more item."""
        spec, state = self.tasks[name].map, self.status.tasks[name].map
        assert spec is not None and state is not None
        if spec.parallelism is None:
            return True
        phases = state.phases
        opened = sum(  # started in this pass, not yet written back into the letters
            1 for (task, index), item in self.open_items.items() if task == name
            and index is not None and item.phase == "Running" and phases[index] != "R"
        )  # fmt: skip
        return phases.count("R") + opened < spec.parallelism

    def start_items(self, name: str) -> None:
        """Start Pending items in order while there is room, at most LAUNCH_BATCH a pass
        (then look again at once, so the status is written as they go)."""
        state = self.status.tasks[name].map
        assert state is not None
        if self.halted():
            return
        phases, position, started = state.phases, 0, 0
        spec = self.tasks[name].map
        assert spec is not None
        cap = spec.parallelism
        running = phases.count("R")
        while True:
            index = phases.find("P", position)
            if index < 0:
                return
            if not self.room() or (cap is not None and running >= cap):
                return
            if started >= LAUNCH_BATCH:
                self.wake.append(self.now)
                return
            self.launch((name, index))
            if self.peek((name, index)).phase == "Running":
                running += 1
            self.watch_item((name, index))
            started += 1
            position = index + 1

    def finish_map(self, name: str) -> None:
        """A map whose items have all ended: Succeeded when at most ``maxFailures`` failed
        (and none is blocked), else Failed or Blocked, naming the items. A map that may
        start nothing more (FailFast) ends as soon as none of its items runs."""
        state = self.status.tasks[name]
        spec = self.tasks[name].map
        assert state.map is not None and spec is not None
        tally = items_.counts(state.map)
        if tally["Running"] or tally["Retrying"] or (tally["Pending"] and not self.halted()):
            return
        unit: Unit = (name, None)
        failed, blocked = self.item_list(state.map, "F"), self.item_list(state.map, "B")
        unstarted = tally["Pending"]
        ok = not blocked and not unstarted and len(failed) <= spec.max_failures
        new = self.state(unit)
        new.finished_at = self.now
        if ok:
            new.phase, new.outputs_source, new.reason, new.message = "Succeeded", "Job", None, None
            tolerated = (
                f", {len(failed)} failed (maxFailures {spec.max_failures})" if failed else ""
            )
            self.record("Succeeded", unit, new.attempts, f"{tally['Succeeded']} items{tolerated}")
            self.emit("Normal", "TaskSucceeded",
                      f"task {name} succeeded: {tally['Succeeded']} items{tolerated}")  # fmt: skip
            return
        if blocked:
            new.phase, new.reason = "Blocked", "ItemsBlocked"
            new.message = clip(f"items {_listed(blocked)} blocked")
        elif unstarted:
            new.phase, new.reason = "Failed", "FailFast"
            new.message = f"{unstarted} items not started: another task failed (FailFast)"
        else:
            new.phase, new.reason = "Failed", "ItemsFailed"
            new.message = clip(
                f"{len(failed)} of {state.map.count} items failed (maxFailures "
                f"{spec.max_failures}): items {_listed(failed)}"
            )
        self.stopped = True
        self.record(new.phase, unit, new.attempts, new.message)
        self.emit("Warning", f"Task{new.phase}", f"task {name}: {new.message}")

    def charge_item(self, unit: Unit, outputs: dict[str, Any]) -> None:
        """Count an item's new outputs against the budget (nothing, if its page is kept
        in an OutputPage)."""
        name, index = unit
        state = self.status.tasks[name].map
        assert state is not None and index is not None
        if items_.page_of(index) in state.stored:
            return
        before = self.peek(unit).outputs
        self.outputs_total += items_.page_bytes({"": outputs}) - (
            items_.page_bytes({"": before}) if before else 0
        )

    def store_pages(self, name: str, state: MapStatus) -> None:
        """Past what the status keeps of items' outputs (``INLINE_OUTPUTS_BYTES``, or the
        budget if smaller), move the map's largest pages out to OutputPages."""
        budget = self.status.outputs_limit
        limit = items_.INLINE_OUTPUTS_BYTES
        if budget is not None:
            limit = min(limit, budget)
        if self.outputs_total <= limit:
            return
        for _, page in items_.pages_to_store({name: state}, self.outputs_total - limit):
            self.outputs_total -= items_.store_page(state, page)
            where = items_.page_name(self.context.owner.name, name, page)
            message = f"task {name}: outputs of items page {page} kept in OutputPage {where}"
            self.emit("Normal", "OutputsStored", message)

    @staticmethod
    def item_list(state: MapStatus, letter: str) -> list[int]:
        return [m.start() for m in re.finditer(letter, state.phases)]


def _listed(indices: list[int], limit: int = 20) -> str:
    """Item numbers, the first ``limit`` of them."""
    shown = ", ".join(map(str, indices[:limit]))
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")
