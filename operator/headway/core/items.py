"""A map task's items: resolving the list, their keys, and their compact state.

A map's status holds one phase letter and one key prefix per item, and more only
where an item needs it (``MapStatus``), so 10,000 items fit in one Execution. Here
an item's state is read as a plain ``TaskStatus`` and written back compact; the
planner runs items with the same transitions as tasks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headway.core import templates
from headway.core.naming import idempotency_key, shorten
from headway.models.execution import ItemStatus, MapStatus, TaskPhase, TaskStatus
from headway.models.workflow import MAX_ITEMS, MapSpec

LETTERS: dict[str, str] = {
    "Pending": "P",
    "Running": "R",
    "Retrying": "T",
    "Succeeded": "S",
    "Failed": "F",
    "Blocked": "B",
    "Stopped": "X",
}
PHASES: dict[str, TaskPhase] = {letter: phase for phase, letter in LETTERS.items()}  # type: ignore[misc]
KEY_CHARS = 10  # of an item's idempotency key kept to tell whether it changed
ITEM_BYTES = 100  # status bytes set aside per item: letter, key, a failed item's detail
ITEM_MESSAGE_LIMIT = 64  # a failed item's message in status (Events keep it whole)
DETAIL_MESSAGES = 1_000  # items whose detail keeps a message; the rest keep the reason
PAGE = 100  # items per page of outputs
INLINE_OUTPUTS_BYTES = 256 * 1024  # items' outputs kept in the status, all maps together
PAGE_REF_BYTES = 40  # a stored page's entry in the status: its number and digest
DIGEST_CHARS = 16


def page_of(index: int) -> str:
    return str(index // PAGE)


def outputs_of(state: MapStatus, index: int) -> dict[str, Any] | None:
    """Item ``index``'s outputs as recorded (None: none recorded)."""
    page = state.outputs.get(page_of(index))
    return page.get(str(index)) if page is not None else None


def set_outputs(state: MapStatus, index: int, outputs: dict[str, Any] | None) -> None:
    """Record (or, None, forget) an item's outputs; copies the page it changes (pages are
    shared with the status this one was copied from)."""
    key, name = page_of(index), str(index)
    page = state.outputs.get(key)
    if outputs is None and (page is None or name not in page):
        return
    fresh = dict(page or {})
    if outputs is None:
        del fresh[name]
    else:
        fresh[name] = outputs
    if fresh or key in state.stored:
        state.outputs[key] = fresh
    else:
        state.outputs.pop(key, None)
    if key in state.stored:
        state.stored[key] = page_digest(fresh)


def page_bytes(page: Mapping[str, Any]) -> int:
    return sum(len(json.dumps(o, separators=(",", ":")).encode()) for o in page.values())


def page_digest(page: Mapping[str, Any]) -> str:
    """What the status records of a stored page, to know the copy read back is the one
    written (by the operator, and the latest)."""
    canonical = json.dumps(page, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]


def page_name(execution: str, task: str, page: str) -> str:
    """The OutputPage holding page ``page`` of a map's outputs."""
    return shorten(f"{execution}-{task}-outputs-{page}")


def store_page(state: MapStatus, page: str) -> int:
    """Keep page ``page`` in an OutputPage from now on; the status bytes it frees."""
    content = state.outputs.get(page, {})
    state.stored[page] = page_digest(content)
    return page_bytes(content) - PAGE_REF_BYTES


def pages_to_store(maps: Mapping[str, MapStatus], excess: int) -> list[tuple[str, str]]:
    """The inline pages (task, page) to move out to free ``excess`` bytes, largest first:
    the fewest objects for the bytes."""
    sizes = sorted(
        (
            (page_bytes(content), task, page)
            for task, state in maps.items()
            for page, content in state.outputs.items()
            if page not in state.stored
        ),
        reverse=True,
    )
    chosen: list[tuple[str, str]] = []
    for size, task, page in sizes:
        if excess <= 0 or size <= PAGE_REF_BYTES:
            break
        chosen.append((task, page))
        excess -= size - PAGE_REF_BYTES
    return chosen


class PagesMissing(LookupError):
    """Stored pages of outputs not found as written (their names in the message)."""


def hydrate(
    state: MapStatus, task: str, pages: Mapping[tuple[str, str], tuple[str, dict[str, Any]]]
) -> list[str]:
    """Put the stored pages back into ``state.outputs`` (where missing) from ``pages``
    ((task, page) -> (digest, outputs)); the pages not found with the digest the status
    records (behind, or changed by someone else)."""
    missing = []
    for page, digest in state.stored.items():
        if page in state.outputs:
            continue
        found = as_written(pages, task, page, digest)
        if found is None:
            missing.append(page)
        else:
            state.outputs[page] = found
    return missing


def as_written(
    pages: Mapping[tuple[str, str], tuple[str, dict[str, Any]]], task: str, page: str, digest: str
) -> dict[str, Any] | None:
    """The page's outputs if found as the status records them (its content has the
    digest), else None: a page behind, or changed by someone else, is never used."""
    found = pages.get((task, page))
    if found is None or found[0] != digest or page_digest(found[1]) != digest:
        return None
    return found[1]


class ItemsError(ValueError):
    """The items cannot be resolved; the message names the problem."""


@dataclass(frozen=True)
class Source:
    """Where a map's list comes from, when it is a reference: a param or an output."""

    param: str | None = None
    task: str | None = None
    key: str | None = None


def source_of(spec: MapSpec) -> Source:
    """The reference ``items`` is made of, if it is exactly one."""
    if not isinstance(spec.items, str):
        return Source()
    found = templates.references(spec.items)
    if len(found) != 1:
        return Source()
    ref = found[0]
    if isinstance(ref, templates.ParamRef):
        return Source(param=ref.name)
    if isinstance(ref, templates.OutputRef):
        return Source(task=ref.task, key=ref.key)
    return Source()


def as_list(value: Any, where: str) -> list[Any]:
    """``value`` (a list, or a text holding a JSON list) as a list of at most MAX_ITEMS."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ItemsError(f"{where} is not a JSON list: {error}") from None
    if not isinstance(value, list):
        raise ItemsError(f"{where} is a {type(value).__name__}, not a list")
    if len(value) > MAX_ITEMS:
        raise ItemsError(f"{where} has {len(value)} items, more than {MAX_ITEMS} (the limit)")
    return value


def resolve(
    spec: MapSpec, params: Mapping[str, str], inputs: Mapping[str, Mapping[str, Any]]
) -> list[Any]:
    """The items: a literal list, or the text after substitution read as a JSON list."""
    if isinstance(spec.items, list):
        return as_list(spec.items, "the items")
    try:
        text = templates.substitute(spec.items, params, inputs)
    except templates.TemplateError as error:
        raise ItemsError(str(error)) from None
    return as_list(text, f"items {spec.items!r}")


def base_key(
    owner_uid: str,
    task: str,
    spec: MapSpec,
    params: Mapping[str, str],
    inputs: Mapping[str, Mapping[str, Any]],
) -> str:
    """The map's key, over everything its items are given but the list itself: so an
    item keeps its key when the list around it changes."""
    source = source_of(spec)
    kept_params = {k: v for k, v in params.items() if k != source.param}
    kept_inputs = dict(inputs)
    if source.task in kept_inputs:
        kept_inputs[source.task] = {
            k: v for k, v in kept_inputs[source.task].items() if k != source.key
        }
    return idempotency_key(owner_uid, task, kept_params, kept_inputs)


def item_key(base: str, index: int, value: Any) -> str:
    """One item's idempotency key: the map's key, its place and its value."""
    canonical = json.dumps([base, index, value], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def job_name(execution: str, task: str, index: int, attempt: int) -> str:
    return shorten(f"{execution}-{task}-{index}-{attempt}")


def expand(old: MapStatus | None, keys: list[str]) -> MapStatus:
    """The map's state for items with ``keys``: an item that ended before (Succeeded,
    Failed, Blocked) with the same key is kept as it is (outputs, attempts, Job); every
    other item — new, changed, or set back to Pending by a recovery — is Pending, its
    attempts counted on so that its next Job has a new name."""
    fresh = MapStatus(count=len(keys), keys="".join(k[:KEY_CHARS] for k in keys))
    phases: list[str] = []
    for index, key in enumerate(keys):
        letter = old.phases[index] if old is not None and index < old.count else "P"
        if old is None or index >= old.count:
            phases.append("P")
            continue
        name = str(index)
        same = old.keys[index * KEY_CHARS : (index + 1) * KEY_CHARS] == key[:KEY_CHARS]
        if same and letter in "SFBX":
            phases.append(letter)
            if name in old.attempts:
                fresh.attempts[name] = old.attempts[name]
            kept = outputs_of(old, index)
            if kept is not None:
                fresh.outputs.setdefault(page_of(index), {})[name] = kept
            if page_of(index) in old.stored:
                fresh.stored[page_of(index)] = ""  # digest set below
            if name in old.items:
                fresh.items[name] = old.items[name]
            continue
        phases.append("P")
        attempts = item_state(old, index).attempts
        if attempts:
            fresh.attempts[name] = attempts
    fresh.phases = "".join(phases)
    for page in fresh.stored:  # a page kept out stays out, with what it holds now
        fresh.outputs.setdefault(page, {})
        fresh.stored[page] = page_digest(fresh.outputs[page])
    return fresh


def default_attempts(phase: str) -> int:
    return 0 if phase == "Pending" else 1


def item_state(state: MapStatus, index: int) -> TaskStatus:
    """Item ``index``'s state, as a task's (a fresh object the caller may change)."""
    name = str(index)
    detail = state.items.get(name)
    phase = PHASES[state.phases[index]]
    if detail is not None:
        found = TaskStatus(
            phase=phase,
            attempts=detail.attempts or 0,
            exit_code=detail.exit_code,
            reason=detail.reason,
            message=detail.message,
            auto_recoveries=detail.auto_recoveries or 0,
            failures=detail.failures or 0,
            next_attempt_at=detail.next_attempt_at,
            outputs_source=detail.outputs_source,
        )
    else:
        found = TaskStatus(phase=phase, attempts=state.attempts.get(name, default_attempts(phase)))
    if phase == "Succeeded":
        found.outputs = outputs_of(state, index) or {}
    return found


def needs_detail(item: TaskStatus) -> bool:
    """Whether the phase letter and attempts cannot say all there is of an item."""
    return bool(
        item.phase in ("Failed", "Blocked", "Retrying")
        or item.failures
        or item.auto_recoveries
        or item.reason
        or item.outputs_source == "Provided"
    )


def put_item(state: MapStatus, index: int, item: TaskStatus) -> None:
    """Write item ``index`` into ``state`` (a private copy: its dicts are changed)."""
    name, letter = str(index), LETTERS[item.phase]
    if state.phases[index] != letter:
        state.phases = state.phases[:index] + letter + state.phases[index + 1 :]
    set_outputs(state, index, item.outputs if item.phase == "Succeeded" and item.outputs else None)
    if item.phase != "Succeeded" and needs_detail(item):
        keep_message = name in state.items or len(state.items) < DETAIL_MESSAGES
        message = item.message if keep_message else None
        if message and len(message) > ITEM_MESSAGE_LIMIT:
            message = message[: ITEM_MESSAGE_LIMIT - 1] + "…"
        state.items[name] = ItemStatus(
            attempts=item.attempts or None,
            exit_code=item.exit_code,
            reason=item.reason,
            message=message,
            auto_recoveries=item.auto_recoveries or None,
            failures=item.failures or None,
            next_attempt_at=item.next_attempt_at,
            outputs_source=item.outputs_source,
        )
        state.attempts.pop(name, None)
        return
    state.items.pop(name, None)
    if item.attempts != default_attempts(item.phase):
        state.attempts[name] = item.attempts
    else:
        state.attempts.pop(name, None)


def private(state: MapStatus) -> MapStatus:
    """A copy whose dicts may be changed (the items' own states are shared)."""
    return state.model_copy(
        update={
            "attempts": dict(state.attempts),
            "outputs": dict(state.outputs),
            "items": dict(state.items),
            "stored": dict(state.stored),
        }
    )


def counts(state: MapStatus) -> dict[TaskPhase, int]:
    """How many items are in each phase (counted in C over the phase letters)."""
    return {phase: state.phases.count(letter) for letter, phase in PHASES.items()}


def outputs_list(state: MapStatus) -> list[dict[str, Any]]:
    """The items' outputs in item order, as successors receive them."""
    found: list[dict[str, Any]] = [{}] * state.count
    for page in state.outputs.values():
        for name, outputs in page.items():
            found[int(name)] = outputs
    return found


def gathered(state: MapStatus) -> dict[str, list[Any]]:
    """``{{ tasks.MAP.outputs.K }}``: each item's K, in item order (null where missing)."""
    every = outputs_list(state)
    names = dict.fromkeys(k for outputs in every for k in outputs)
    return {k: [outputs.get(k) for outputs in every] for k in names}


def outputs_size(state: MapStatus | None) -> int:
    """The bytes the items' outputs take in status (a stored page: its reference)."""
    if state is None:
        return 0
    inline = sum(
        page_bytes(content) for page, content in state.outputs.items() if page not in state.stored
    )
    return inline + PAGE_REF_BYTES * len(state.stored)


def rerun_items(state: MapStatus, items: list[int] | None) -> list[int]:
    """The items a recovery reruns: those named, else every Failed, Blocked and Stopped one."""
    if items is not None:
        return sorted(set(items))
    return [i for i, letter in enumerate(state.phases) if letter in "FBX"]


def label(task: str, index: int | None) -> str:
    """How a task or one of its items is named in messages: ``process[3]``."""
    return task if index is None else f"{task}[{index}]"
