"""What the watches show, kept in memory: the operator reads here, never LISTs per reconcile.

kopf keeps the indexes (``main``'s ``@kopf.index`` handlers) and holds every other
handler back until all of them hold their initial listing, so after a start or restart
nothing is decided before a Job created before a crash is known. On top of the indexes
this keeps what the operator itself just wrote, until the watch brings it back:

- the Execution as its last status write returned it (so the next pass does not work
  from the version before and meet a conflict);
- the Jobs it just created (*expectations*, as controllers call them), so a pass that
  runs before the watch delivers them does not take them for vanished.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = dict[str, Any]
Key = tuple[str, str]  # namespace, name
EXPECTATION_SECONDS = 120.0  # a Job created but never seen by then is let go


class Index(Protocol):
    """kopf's index: key -> the values of every object that gave that key."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def values(self) -> Iterable[Any]: ...


def newer(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The later of two versions of an object (resourceVersions compare as numbers when
    they are; else the second wins)."""
    if a is None or b is None:
        return b if a is None else a
    ra, rb = a["metadata"].get("resourceVersion", ""), b["metadata"].get("resourceVersion", "")
    if ra.isdigit() and rb.isdigit():
        return a if int(ra) > int(rb) else b
    return b


@dataclass(frozen=True)
class Snapshot:
    """One Execution and what belongs to it, as the caches show it now."""

    execution: JSON
    jobs: dict[str, JSON]  # by name
    pods: list[JSON]
    requests: list[JSON]


@dataclass
class Cache:
    executions: Index | None = None  # key -> the Execution
    jobs: Index | None = None  # Execution uid -> its Jobs
    pods: Index | None = None  # Execution uid -> its pods
    requests: Index | None = None  # key of the Execution named -> its RecoveryRequests
    waiting: Index | None = None  # (namespace, Workflow) -> keys of Executions waiting for it
    written: dict[Key, JSON] = field(default_factory=dict)
    expected: dict[str, dict[str, tuple[JSON, float]]] = field(default_factory=dict)

    def bind(self, **indexes: Index) -> None:
        """Take kopf's index objects (they are the same for the operator's lifetime)."""
        for name, index in indexes.items():
            setattr(self, name, index)

    def execution(self, key: Key) -> JSON | None:
        seen = _one(self.executions, key)
        return dict(newer(seen, self.written.get(key)) or {}) or None

    def snapshot(self, key: Key, now: float | None = None) -> Snapshot | None:
        execution = self.execution(key)
        if execution is None:
            return None
        uid = execution["metadata"]["uid"]
        jobs = {j["metadata"]["name"]: j for j in _all(self.jobs, uid)}
        expected = self.expected.get(uid, {})
        now = time.monotonic() if now is None else now
        for name, (job, deadline) in list(expected.items()):
            if name in jobs or deadline < now:
                del expected[name]  # seen at last (or given up on)
            else:
                jobs[name] = job
        return Snapshot(
            execution,
            jobs,
            list(_all(self.pods, uid)),
            list(_all(self.requests, key)),
        )

    def wrote(self, key: Key, execution: JSON | None, created: Iterable[JSON]) -> None:
        """Remember what a reconcile wrote until the watches bring it back."""
        if execution is not None:
            self.written[key] = dict(newer(self.written.get(key), execution) or execution)
        for job in created:
            uid = next(
                (
                    r["uid"]
                    for r in job["metadata"].get("ownerReferences") or []
                    if r.get("controller")
                ),
                None,
            )
            if uid:
                self.expected.setdefault(uid, {})[job["metadata"]["name"]] = (
                    job,
                    time.monotonic() + EXPECTATION_SECONDS,
                )

    def seen(self, key: Key, execution: Mapping[str, Any]) -> None:
        """The watch delivered ``execution``: what was written before it is no longer news."""
        written = self.written.get(key)
        if written is not None and newer(written, execution) is not written:
            del self.written[key]

    def forget(self, key: Key, uid: str) -> None:
        self.written.pop(key, None)
        self.expected.pop(uid, None)

    def all_executions(self) -> list[Mapping[str, Any]]:
        """Every Execution the cache holds (read on the event loop, never from a thread)."""
        if self.executions is None:
            return []
        return [e for store in list(self.executions.values()) for e in store]

    def waiting_for(self, namespace: str, workflow: str) -> list[Key]:
        return [(str(k[0]), str(k[1])) for k in _all(self.waiting, (namespace, workflow))]


def _all(index: Index | None, key: Any) -> Iterable[Any]:
    if index is None:
        return ()
    return list(index.get(key, ()))


def _one(index: Index | None, key: Any) -> JSON | None:
    values = list(_all(index, key))
    return dict(values[-1]) if values else None
