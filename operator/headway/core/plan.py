"""The scheduling plan: ``plan(context, status, observed_jobs, now, launches) -> Plan``.

Given what the status says and what the cluster shows, decide every task's
next state and the Job operations that get there. Pure: the same inputs always
give the same plan, so a re-run after a crash repeats decisions rather than
making new ones; deterministic Job names make creating a Job idempotent.
"""

from __future__ import annotations

import datetime
import heapq
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

from headway.core import history, templates
from headway.core import items as items_
from headway.core import outputs as outputs_
from headway.core.actions import CreateJob, DeleteJob, Emit, JobAction
from headway.core.conditions import ENDED
from headway.core.context import Context, prepare
from headway.core.facts import ObservedJob, Quiet, quiet_of
from headway.core.gates import REACTING, GatePlanning, execution_phase, phase_of
from headway.core.history import clip
from headway.core.holding import HoldPlanning
from headway.core.mapping import ITEM_MARK, MapPlanning
from headway.core.naming import idempotency_key
from headway.core.render import InputsError, render_job
from headway.core.scan import changed_keys
from headway.core.spec import task_texts
from headway.core.transitions import Unit
from headway.models.execution import (
    ExecutionPhase,
    ExecutionStatus,
    HistoryEntry,
    TaskStatus,
)
from headway.models.workflow import RetryPolicy, Task

JSON = dict[str, Any]
PHASE = attrgetter("phase")
PHASE_JOB = attrgetter("phase", "job")
DONE = frozenset({"Succeeded", "Skipped"})  # ended for good: a sweep passes them over
EVIDENCE_LIMIT = 640  # a stall's reason and evidence, in the history
RECHECK_SECONDS = 2.0  # a direct read caught the Job changing: read again this soon
DEFER_SECONDS = 5.0  # a Job create that met a transient API error is tried again this soon


@dataclass(frozen=True)
class Since:
    """What the pass before left for this one: the tasks it planned (the status it wrote),
    the tasks to look at again whatever happens (``Plan.watch``), and two sums over those
    tasks — how many are in each phase, and the bytes of their outputs — carried so a
    pass does not count every task again. The sums hold for the very ``tasks`` mapping
    planned; a status with another one (a recovery's copy) is counted afresh."""

    tasks: Mapping[str, TaskStatus]
    watch: frozenset[str]
    counts: Counter[str] | None = None
    outputs_total: int | None = None
    # Tasks and items whose pod sits Pending, each with the moment it would be a stall:
    # looked at again then (or when their Job changes), not on every pass.
    deadlines: Mapping[str, datetime.datetime] = field(default_factory=dict)
    earliest: datetime.datetime | None = None  # min(deadlines.values())


@dataclass(frozen=True)
class Launches:
    """What became of this pass's Job creates, when the shell had to try them first.

    ``refused``: Job name -> the API server's message (invalid, forbidden, over quota):
    the attempt fails. ``deferred``: Job name -> a transient error: the task waits and
    is tried again shortly. ``created``: Job names created (or adopted) in this pass."""

    refused: Mapping[str, str] = field(default_factory=dict)
    deferred: Mapping[str, str] = field(default_factory=dict)
    created: frozenset[str] = frozenset()


@dataclass
class Plan:
    status: ExecutionStatus
    jobs: list[JobAction]
    events: list[Emit]
    wake_at: datetime.datetime | None = None  # reconcile again then, even if nothing changes
    # Tasks the next pass must look at even if nothing about them changes: retrying,
    # running with something to watch or not yet seen, ready but not started.
    watch: frozenset[str] = frozenset()
    # Jobs whose facts suggest a stall: read them directly (``facts.confirm_attempt``)
    # and plan again; nothing is done about them until then.
    confirm: frozenset[str] = frozenset()
    since: Since | None = None  # what this plan leaves for the next pass


def backoff_seconds(retry: RetryPolicy, retry_number: int) -> float:
    """Delay before retry ``retry_number`` (1-based): exponential, capped."""
    delay = retry.backoff_seconds * retry.backoff_factor ** (retry_number - 1)
    return float(min(delay, retry.max_backoff_seconds))


def outputs_bytes(outputs: Mapping[str, Any] | None) -> int:
    return len(json.dumps(outputs, separators=(",", ":")).encode()) if outputs else 0


def referenced_tasks(task: Task) -> list[str]:
    """Tasks whose outputs ``task`` substitutes with ``{{ tasks.X.outputs.K }}``."""
    names = (
        ref.task
        for text in task_texts(task)
        for ref in templates.references(text)
        if isinstance(ref, templates.OutputRef)
    )
    return list(dict.fromkeys(names))


class _Planner(HoldPlanning, GatePlanning, MapPlanning):
    def __init__(
        self,
        context: Context,
        status: ExecutionStatus,
        observed: Mapping[str, ObservedJob],
        now: datetime.datetime,
        launches: Launches,
        since: Since | None,
    ) -> None:
        self.context = context
        # Copy on write: the new status shares every task's status with the old one until
        # a transition changes it (see ``state``), so a pass costs what changed.
        self.status = status.model_copy()
        self.status.tasks = dict(status.tasks)
        self.status.history = list(status.history)
        self.copied: set[str] = set()
        self.observed = observed
        self.now = now
        self.launches = launches
        prepared = context.prepared or prepare(context.workflow)
        self.tasks, self.dag, self.position = prepared.tasks, prepared.dag, prepared.position
        self.jobs: list[JobAction] = []
        self.events: list[Emit] = []
        self.wake: list[datetime.datetime] = []
        self.waiting: set[str] = set()  # tasks whose Job create was deferred this pass
        self.confirm: set[str] = set()  # Jobs to read directly before a stall is declared
        self.before = status.tasks
        # Items being changed in this pass (written back compact by ``flush``), the items
        # the next pass must look at, and what each map's list resolved to in this pass.
        self.open_items: dict[Unit, TaskStatus] = {}
        self.item_watch: set[str] = set()
        self.resolved: dict[str, tuple[str, list[Any]]] = {}
        self.deadlines: dict[str, datetime.datetime] = {}  # see Since.deadlines
        self.looked: set[str] = set()  # the tasks and items (task#index) visited
        self.given: dict[tuple[str, bool], Any] = {}  # a map's outputs as given, this pass
        carried = since if since is not None and since.tasks is status.tasks else None
        if carried is not None and carried.counts is not None:
            self.counts = carried.counts
        else:
            self.counts = Counter(map(PHASE, status.tasks.values()))
        if carried is not None and carried.outputs_total is not None:
            self.outputs_total = carried.outputs_total
        else:
            self.outputs_total = sum(
                outputs_bytes(t.outputs) + items_.outputs_size(t.map) for t in status.tasks.values()
            )
        self.stopped = bool(self.counts["Failed"] or self.counts["Blocked"])
        if len(status.tasks) != len(self.tasks) or not self.tasks.keys() <= status.tasks.keys():
            for name in self.tasks.keys() - self.status.tasks.keys():
                self.status.tasks[name] = TaskStatus()
                self.copied.add(name)
        self.running = self.running_jobs() if context.workflow.parallelism else 0
        self.final = frozenset(t.name for t in context.workflow.finally_)
        self.main_phase: ExecutionPhase | None = None  # the tasks' phase, once they ended

    def running_jobs(self) -> int:
        """Jobs running now: tasks' and map items' (only counted under a cap)."""
        return sum(
            t.map.phases.count("R") if t.map is not None else t.phase == "Running"
            for t in self.status.tasks.values()
        )

    def peek(self, unit: Unit) -> TaskStatus:
        """A task's or an item's status, to read (an item's: a fresh object)."""
        name, index = unit
        if index is None:
            return self.status.tasks[name]
        found = self.open_items.get(unit)
        if found is not None:
            return found
        state = self.status.tasks[name].map
        assert state is not None  # items exist once the map is expanded
        item = items_.item_state(state, index)
        if item.attempts:
            item.job = items_.job_name(self.context.owner.name, name, index, item.attempts)
        return item

    def state(self, unit: Unit) -> TaskStatus:
        """The status to change: a task's copied on its first change in this pass; an
        item's kept open until ``flush`` writes it back into its map."""
        name, index = unit
        if index is not None:
            found = self.open_items.get(unit)
            if found is None:
                found = self.open_items[unit] = self.peek(unit)
            return found
        if name not in self.copied:
            self.status.tasks[name] = self.status.tasks[name].model_copy()
            self.copied.add(name)
        return self.status.tasks[name]

    def flush(self, name: str) -> None:
        """Write the map's open items back into its (copied) status."""
        changed = [(unit, item) for unit, item in self.open_items.items() if unit[0] == name]
        if not changed:
            return
        state = self.state((name, None))
        assert state.map is not None
        fresh = items_.private(state.map)
        for unit, item in changed:
            assert unit[1] is not None
            items_.put_item(fresh, unit[1], item)
            del self.open_items[unit]
        state.map = fresh
        self.store_pages(name, fresh)

    # --- bookkeeping --------------------------------------------------------------------

    def record(
        self,
        event: str,
        unit: Unit | None = None,
        attempt: int | None = None,
        message: str | None = None,
    ) -> None:
        task, item = unit if unit is not None else (None, None)
        entry = HistoryEntry(
            time=self.now, event=event, task=task, item=item, attempt=attempt, message=message
        )
        history.append(self.status.history, entry)

    def emit(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(Emit(kind, reason, message))

    def outputs_of(self, names: Iterable[str], gathered: bool = False) -> dict[str, Any]:
        """Each task's outputs; a map's as the list of its items' outputs, or (``gathered``,
        for ``{{ tasks.MAP.outputs.K }}``) as each key's list. Kept for the pass."""
        found: dict[str, Any] = {}
        for name in names:
            state = self.status.tasks[name]
            if state.map is None or state.phase != "Succeeded":
                found[name] = state.outputs or {}
                continue
            key = (name, gathered)
            if key not in self.given:
                every = items_.gathered(state.map) if gathered else items_.outputs_list(state.map)
                self.given[key] = every
            found[name] = self.given[key]
        return found

    def available(self, task: Task) -> tuple[dict[str, Any], dict[str, Any]]:
        """What a task is given: its dependencies' outputs (``HEADWAY_INPUTS``), and the
        outputs of every task its references name."""
        inputs = self.outputs_of(self.dag.parents[task.name])
        return inputs, self.outputs_of(referenced_tasks(task), gathered=True)

    def ended(self, unit: Unit, was: str) -> None:
        """A unit left Running: one Job fewer against ``spec.parallelism``."""
        if was == "Running":
            self.running -= 1

    # --- transitions --------------------------------------------------------------------

    def launch(self, unit: Unit) -> None:
        name, index = unit
        state, task = self.state(unit), self.tasks[name]
        attempt = state.attempts + 1
        inputs, referenced = self.available(task)
        item: templates.Item | None = None
        skipped = [t for t in referenced_tasks(task) if self.status.tasks[t].phase == "Skipped"]
        if skipped:
            # A Skipped task has no outputs: say so rather than "no output K".
            message = (
                f"{{{{ tasks.{skipped[0]}.outputs }}}}: task {skipped[0]} was Skipped and has no "
                f'outputs (guard with when: tasks.{skipped[0]}.phase == "Succeeded")'
            )
            self.fail(unit, "InvalidInput", message, retry=False)
            return
        try:
            if index is None:
                # Everything the container is given: params, every output it depends on or names.
                key = idempotency_key(
                    self.context.owner.uid, name, self.context.params, {**inputs, **referenced}
                )
            else:
                base, values = self.resolved[name]
                item = templates.Item(index, values[index])
                key = items_.item_key(base, index, item.value)
            manifest = render_job(
                self.context.owner, task, attempt, self.context.params, inputs, key, referenced,
                item, self.execution_env(name),
            )  # fmt: skip
        except (templates.TemplateError, InputsError) as error:
            # Deterministic: another attempt would fail the same way.
            reason = "InputsTooLarge" if isinstance(error, InputsError) else "InvalidInput"
            self.fail(unit, reason, str(error), retry=False)
            return
        job = manifest["metadata"]["name"]
        where = items_.label(name, index)
        if job in self.launches.deferred:
            self.waiting.add(name)
            self.wake.append(self.now + datetime.timedelta(seconds=DEFER_SECONDS))
            self.emit(
                "Warning",
                "JobCreateDeferred",
                f"task {where}: creating Job {job} failed for now, trying again: "
                f"{self.launches.deferred[job]}",
            )
            return
        if state.phase != "Running":
            self.running += 1
        state.phase, state.attempts, state.job = "Running", attempt, job
        state.idempotency_key = key if index is None else None
        state.started_at = self.now if state.started_at is None else state.started_at
        state.finished_at = state.exit_code = state.reason = state.message = None
        state.next_attempt_at = None
        if index is not None:
            state.started_at = None  # an item's times are its Job's
        if job in self.launches.refused:
            state.job = None  # no such Job exists
            self.record("Started", unit, attempt)
            self.fail(unit, "JobRejected", self.launches.refused[job])
            return
        if job not in self.observed and job not in self.launches.created:
            self.jobs.append(CreateJob(manifest, name, attempt))  # else: adopt it
        if index is None:  # an item's start is its Job's creation: no record of its own
            self.record("Started", unit, attempt)
            self.emit(
                "Normal", "TaskStarted", f"task {name} attempt {attempt} started as Job {job}"
            )

    def succeed(self, unit: Unit, job: ObservedJob, outputs: JSON) -> None:
        state = self.state(unit)
        self.ended(unit, state.phase)
        state.phase, state.outputs, state.outputs_source = "Succeeded", outputs, "Job"
        state.exit_code, state.reason, state.message = job.exit_code, None, None
        state.finished_at = job.finished_at or self.now
        state.next_attempt_at = None
        if unit[1] is None:  # items succeed in thousands: their map's end is recorded
            self.record("Succeeded", unit, state.attempts)
            self.emit(
                "Normal", "TaskSucceeded", f"task {unit[0]} succeeded (attempt {state.attempts})"
            )

    def fail(
        self,
        unit: Unit,
        reason: str,
        message: str,
        exit_code: int | None = None,
        finished: datetime.datetime | None = None,
        retry: bool = True,
    ) -> None:
        """A task's or item's failure (not a stall): spends one of ``retry.limit``'s retries."""
        name, index = unit
        where = items_.label(name, index)
        state, policy = self.state(unit), self.tasks[name].retry or RetryPolicy()
        self.ended(unit, state.phase)
        state.exit_code, state.reason, state.message = exit_code, reason, clip(message)
        state.finished_at = finished or self.now
        state.failures += 1
        if retry and state.failures <= policy.limit:
            delay = backoff_seconds(policy, state.failures)
            state.phase = "Retrying"
            state.next_attempt_at = state.finished_at + datetime.timedelta(seconds=delay)
            self.record(
                "Retrying", unit, state.attempts, clip(f"{reason}: {message}; retry in {delay:g}s")
            )
            self.emit(
                "Warning",
                "TaskRetrying",
                f"task {where} attempt {state.attempts} failed ({reason}); retry in {delay:g}s",
            )
        else:
            state.phase, state.next_attempt_at = "Failed", None
            self.stopped = self.stopped or index is None
            self.record("Failed", unit, state.attempts, clip(f"{reason}: {message}"))
            self.emit("Warning", "TaskFailed", f"task {where} failed: {reason}: {message}")

    def suspect(self, unit: Unit, job: ObservedJob | None, why: str) -> None:
        """The caches suggest the engine lost the attempt. Only a direct read proves it:
        until ``job`` comes from one, ask for it and change nothing."""
        state = self.peek(unit)
        if job is None or not job.confirmed:
            self.confirm.add(state.job or "")
            return
        self.stall(unit, why, job.evidence)

    def stall(self, unit: Unit, why: str, evidence: str | None = None) -> None:
        """The engine lost the attempt (proven: see ``suspect``): try again at once, up to
        ``maxAttempts`` times, then Blocked. A stall is not the task's fault: it spends no
        retry. The ``evidence`` that proved it is kept in the history."""
        state = self.state(unit)
        where = items_.label(*unit)
        if state.job and state.job in self.observed:
            self.jobs.append(DeleteJob(state.job))
        proof = f" [evidence: {evidence}]" if evidence else ""
        if state.auto_recoveries < self.context.auto_recovery.max_attempts:
            state.auto_recoveries += 1
            self.record("AutoRecovered", unit, state.attempts, clip(why + proof, EVIDENCE_LIMIT))
            self.emit(
                "Warning",
                "TaskStalled",
                f"task {where} attempt {state.attempts} stalled ({why}){proof}; "
                "starting a new attempt",
            )
            self.launch(unit)
        else:
            self.ended(unit, state.phase)
            state.phase, state.reason, state.finished_at = "Blocked", "Stalled", self.now
            self.stopped = self.stopped or unit[1] is None
            gave_up = f"gave up after {state.auto_recoveries} automatic recoveries"
            state.message = clip(f"{why}; {gave_up}")
            self.record(
                "Blocked", unit, state.attempts, clip(state.message + proof, EVIDENCE_LIMIT)
            )
            self.emit("Warning", "TaskBlocked", f"task {where} blocked: {state.message}")

    # --- the pass -----------------------------------------------------------------------

    def observe(self, unit: Unit) -> None:
        """Move a Running task or item on from what its Job shows."""
        state = self.peek(unit)  # read only: transitions take their own copy
        job = self.observed.get(state.job or "")
        if job is None:
            if state.job in self.launches.created:
                return  # created in this very pass: the caches have not shown it yet
            self.suspect(unit, None, f"Job {state.job} disappeared")
            return
        if job.stalled:
            self.suspect(unit, job, job.stalled)
            return
        if job.recheck:
            self.wake.append(self.now + datetime.timedelta(seconds=RECHECK_SECONDS))
        if job.outcome == "Running":
            self.watch_pending(unit, job)
            return
        if job.outcome == "Succeeded":
            self.complete(unit, job)
            return
        self.fail(
            unit,
            job.reason or "Failed",
            job.message or "the Job failed",
            job.exit_code,
            job.finished_at,
        )

    def watch_pending(self, unit: Unit, job: ObservedJob) -> None:
        """A pod that sits Pending past ``stallTimeoutSeconds`` is a stall."""
        if job.pending_since is None:
            return
        timeout = self.context.auto_recovery.stall_timeout_seconds
        limit = job.pending_since + datetime.timedelta(seconds=timeout)
        if self.now >= limit:
            reason = job.pending_reason or "not started"
            since = job.pending_since.isoformat()
            self.suspect(unit, job, f"pod Pending since {since}, over {timeout}s ({reason})")
        else:
            self.wake.append(limit)

    def complete(self, unit: Unit, job: ObservedJob) -> None:
        parsed = outputs_.parse(job.termination_message)
        if isinstance(parsed, outputs_.OutputsError):
            self.fail(unit, parsed.reason, parsed.message, job.exit_code, job.finished_at)
            return
        budget = self.status.outputs_limit
        if unit[1] is not None:
            self.charge_item(unit, parsed)  # its page moves out at flush when past the limit
        elif budget is not None:
            others = self.outputs_total - outputs_bytes(self.peek(unit).outputs)
            size = outputs_bytes(parsed)
            if others + size > budget:
                message = (
                    f"outputs of {size} bytes would bring the execution's outputs past "
                    f"{budget} bytes in all, the most its status can hold"
                )
                self.fail(unit, "OutputsBudgetExceeded", message, job.exit_code, job.finished_at)
                return
            self.outputs_total = others + size
        self.succeed(unit, job, parsed)

    def halted(self) -> bool:
        """Start nothing new: FailFast and something failed or is blocked, or suspended,
        or stopped."""
        fail_fast = self.context.workflow.failure_policy == "FailFast" and self.stopped
        return fail_fast or self.holding()

    def room(self) -> bool:
        """Whether ``spec.parallelism`` leaves room for one more Job."""
        cap = self.context.workflow.parallelism
        return cap is None or self.running < cap

    def run(self, quiet: Quiet, since: Since | None, touched: AbstractSet[str] | None) -> Plan:
        """Visit, in DAG order, every task that may have something to do. Without what
        the pass before left (``since``) and the tasks whose Job facts changed since
        (``touched``), that is every task not Succeeded and not quietly running, passed
        over in C; with them, only what changed, what was left to watch, and the children
        of what succeeded, as found (a visit to a task with nothing to do does nothing, so
        both ways plan the same; a property test holds them equal). A map's items are
        looked at the same way: all in a sweep, else those touched or left to watch."""
        visited: list[str] = []
        self.stop_all()
        if since is None or touched is None:
            for name in self.sweep(quiet):
                self.visit(name, None)
                visited.append(name)
        else:
            self.worklist(since, touched, visited)
        if self.final:
            visited += self.visit_finally()
        counts = self.roll_up()
        watch = frozenset(name for name in visited if self.needs_watch(name)) | self.item_watch
        deadlines = self.carried_deadlines(since)
        earliest = min(deadlines.values()) if deadlines else None
        wakes = [*self.wake, earliest] if earliest is not None else self.wake
        wake = min(wakes) if wakes else None
        confirm = frozenset(self.confirm)
        left = Since(self.status.tasks, watch, counts, self.outputs_total, deadlines, earliest)
        return Plan(self.status, self.jobs, self.events, wake, watch, confirm, left)

    def carried_deadlines(self, since: Since | None) -> dict[str, datetime.datetime]:
        """The pending deadlines of the pass before, but of what this pass looked at (it
        set its own), and this pass's."""
        if since is None or not since.deadlines:
            return self.deadlines
        carried = dict(since.deadlines)  # copied in C; the looked-at are few
        for unit in self.looked:
            carried.pop(unit, None)
        carried.update(self.deadlines)
        return carried

    def deadline(self, job: ObservedJob | None) -> datetime.datetime | None:
        """When a Running attempt whose pod sits Pending would be a stall, if that is all
        there is to look at for it (and it is still ahead)."""
        if job is None or job.stalled or job.recheck or job.pending_since is None:
            return None
        timeout = datetime.timedelta(seconds=self.context.auto_recovery.stall_timeout_seconds)
        limit = job.pending_since + timeout
        return limit if limit > self.now else None

    def sweep(self, quiet: Quiet) -> Iterator[str]:
        """Every task but the Succeeded and the quietly running, in DAG order, looked at
        lazily (a task's phase changes only when it is visited, so a late look is a true
        one). Only a pass without what the pass before left sweeps (a start, a restart):
        a plain loop is fast enough for it (bench/reconcile_cost.py)."""
        tasks, final = self.status.tasks, self.final
        for name in self.dag.order:
            state = tasks[name]
            if (
                state.phase not in DONE
                and (state.phase, state.job) not in quiet
                and name not in final
            ):
                yield name

    def worklist(self, since: Since, touched: AbstractSet[str], visited: list[str]) -> None:
        """The tasks whose status changed since the pass before, whose facts changed, or
        that were left to watch, then the children of each that is Succeeded, in DAG
        order (a heap of positions). An item (``task#index``) brings its map, to look at
        that item; a map whose status changed is looked at whole."""
        tasks, position, order = self.status.tasks, self.position, self.dag.order
        changed = set(changed_keys(tasks, since.tasks))
        looks: dict[str, set[int]] = {}
        start: set[str] = set(changed)
        due: set[str] = set()
        if since.earliest is not None and since.earliest <= self.now:
            due = {unit for unit, limit in since.deadlines.items() if limit <= self.now}
        for name in touched | since.watch | due:
            task, mark, index = name.partition(ITEM_MARK)
            if mark:
                looks.setdefault(task, set()).add(int(index))
            start.add(task)
        heap = [position[name] for name in start if name in position and name not in self.final]
        heapq.heapify(heap)
        queued = set(heap)
        while heap:
            name = order[heapq.heappop(heap)]
            self.visit(name, None if name in changed else looks.get(name, set()))
            visited.append(name)
            if tasks[name].phase in ENDED:  # its children's triggers may hold now
                for child in self.dag.children[name]:
                    if position[child] not in queued:
                        queued.add(position[child])
                        heapq.heappush(heap, position[child])

    def visit(self, name: str, looks: AbstractSet[int] | None) -> None:
        """``looks``: for a map, the items to look at (None: every one not ended)."""
        self.looked.add(name)
        if self.tasks[name].map is not None:
            self.visit_map(name, looks)
            return
        unit: Unit = (name, None)
        state = self.status.tasks[name]
        if state.phase == "Running":
            self.observe(unit)
            state = self.status.tasks[name]  # as the observation left it
        if state.phase == "Retrying" and state.next_attempt_at is not None:
            if state.next_attempt_at <= self.now:
                if self.room() and not self.holding():
                    self.launch(unit)
            else:
                self.wake.append(state.next_attempt_at)
        elif state.phase == "Pending" and not state.held and self.may_start(name) and self.room():
            self.launch(unit)

    def ready(self, name: str) -> bool:
        """Whether a Pending task would start now, were there room (no side effects)."""
        if self.suspended() or (self.stopped_run() and name not in self.final):
            return False
        if self.halted() and self.tasks[name].trigger not in REACTING and name not in self.final:
            return False
        return self.verdict(name).verdict == "start"

    def visit_finally(self) -> list[str]:
        """Every finally task not ended, in DAG order: they start once the tasks ended."""
        self.main_phase = None  # the tasks as this pass left them
        visited = []
        for name in self.dag.order:
            if name in self.final and self.status.tasks[name].phase not in ENDED:
                self.visit(name, None)
                visited.append(name)
        return visited

    def needs_watch(self, name: str) -> bool:
        """Whether the next pass must look at this task even if nothing changes."""
        state = self.status.tasks[name]
        if state.phase == "Retrying":
            return True
        if state.phase == "Running":
            if state.map is not None:  # items waiting for room
                return "P" in state.map.phases
            job = self.observed.get(state.job or "")
            if job is not None and job.quiet:
                return False
            due = self.deadline(job)
            if due is not None:
                self.deadlines[name] = due  # looked at again then, or when its Job changes
                return False
            return True
        return state.phase == "Pending" and not state.held and self.ready(name)

    def tally(self) -> Counter[str]:
        """The phase counts of the new status: the old ones, moved for each task this pass
        changed (a copied task is the only kind whose phase can differ)."""
        counts = self.counts.copy()
        for name in self.copied:
            old = self.before.get(name)
            if old is not None:
                counts[old.phase] -= 1
            counts[self.status.tasks[name].phase] += 1
        if len(self.status.tasks) != len(self.before) or self.copied - self.before.keys():
            counts = Counter(map(PHASE, self.status.tasks.values()))  # tasks came or went
        return counts

    def roll_up(self) -> Counter[str]:
        """The Execution's progress and phase from its tasks'; returns the phase counts."""
        status = self.status
        counts = tallied = self.tally()
        status.progress = f"{counts['Succeeded'] + counts['Skipped']}/{len(status.tasks)}"
        status.started_at = status.started_at or self.now
        # A task re-triggered by a Step without updateExecutionPhase counts as it was then.
        frozen = status.recovery.frozen
        if frozen:
            counts = counts.copy()
            for name, was in frozen.items():
                if name in status.tasks:
                    counts[status.tasks[name].phase] -= 1
                    counts[was] += 1
        main, final = counts.copy(), Counter(status.tasks[n].phase for n in self.final)
        main.subtract(final)
        tasks_phase = phase_of(main, len(status.tasks) - len(self.final))
        if self.stopped_run() and tasks_phase != "Running":
            tasks_phase = "Stopped"
        phase = "Running" if self.waiting else execution_phase(tasks_phase, self.final_phase())
        if self.suspended() and phase in ("Running", "Paused"):
            phase = "Suspended"
        if phase != status.phase:
            status.phase = phase
            if phase != "Running":
                self.record(phase)
                self.emit(
                    "Normal" if phase == "Succeeded" else "Warning",
                    f"Execution{phase}",
                    f"execution {phase.lower()}: {status.progress} tasks succeeded",
                )
        status.finished_at = None if phase == "Running" else (status.finished_at or self.now)
        return tallied


def plan(
    context: Context,
    status: ExecutionStatus,
    observed: Mapping[str, ObservedJob],
    now: datetime.datetime,
    launches: Launches | None = None,
    quiet: Quiet | None = None,
    since: Since | None = None,
    touched: AbstractSet[str] | None = None,
) -> Plan:
    """Decide the next status and Job operations of a started Execution. The caller that
    keeps them from pass to pass gives ``quiet`` (``quiet_of(observed)``), ``since`` (what
    the last plan left) and ``touched`` (tasks whose Job facts changed since): then a pass
    costs what changed. Without them it looks at every task; the plan is the same."""
    planner = _Planner(context, status, observed, now, launches or Launches(), since)
    return planner.run(quiet_of(observed) if quiet is None else quiet, since, touched)
