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

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from headway.core.facts import job_of_pod, newest_pod
from headway.core.render import ANNOTATION_KEY

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
    """One Execution and what belongs to it, as the caches show it now: its Jobs by name,
    each Job's newest pod, its requests; and the Jobs whose Job or newest pod changed
    since the snapshot numbered ``since`` (None: not known, compare them all)."""

    execution: JSON
    jobs: dict[str, JSON]  # by name
    newest: dict[str, JSON]  # Job name -> its newest pod
    requests: list[JSON]
    changed: frozenset[str] | None = None
    seq: int | None = None  # this snapshot's number: pass it as ``since`` next time
    pages: list[JSON] = field(default_factory=list)  # its OutputPages (core.pages)


LOG_FLOOR = 1024  # Job names kept in a change log, at least (past it: 4 per Job)


META_KEPT = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
)
LABELS_DROPPED = frozenset(
    {"controller-uid", "batch.kubernetes.io/controller-uid", "app.kubernetes.io/managed-by"}
)
POD_CONDITIONS = frozenset({"PodScheduled", "DisruptionTarget"})  # what facts read of a pod
POD_STATUS_KEPT = ("phase", "reason", "message", "startTime")
CONTAINER_KEPT = ("name", "state", "restartCount")


def slim(obj: Mapping[str, Any]) -> JSON:
    """A Job or pod as the operator keeps it: only what its facts are drawn from (names,
    times, versions, Headway's labels and key, a Job's conditions and counts and deadline,
    a pod's phase, scheduling and disruption conditions and container state). At 10,000
    items the rest (the pod spec, the Job's template with every item's inputs, addresses,
    images, managed fields) would be most of the operator's memory. Keys, labels and
    conditions' words repeat across thousands of objects: interned, kept once."""
    meta = obj.get("metadata") or {}
    kept: JSON = {_k(k): meta[k] for k in META_KEPT if k in meta}
    labels = {
        _k(k): _k(v) for k, v in (meta.get("labels") or {}).items() if k not in LABELS_DROPPED
    }
    kept["labels"] = labels
    key = (meta.get("annotations") or {}).get(ANNOTATION_KEY)
    if key is not None:
        kept["annotations"] = {ANNOTATION_KEY: key}
    status = obj.get("status") or {}
    out: JSON = {"metadata": kept}
    if obj.get("kind") == "Pod" or "containerStatuses" in status or "phase" in status:
        out["status"] = _pod_status(status)
    else:
        out["status"] = {_k(k): v for k, v in status.items() if k != "conditions"}
        out["status"]["conditions"] = [_condition(c) for c in status.get("conditions") or []]
        deadline = (obj.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            out["spec"] = {"activeDeadlineSeconds": deadline}
    for field_ in ("apiVersion", "kind"):
        if field_ in obj:
            out[field_] = sys.intern(obj[field_])
    return out


def _pod_status(status: Mapping[str, Any]) -> JSON:
    kept: JSON = {_k(k): status[k] for k in POD_STATUS_KEPT if k in status}
    kept["conditions"] = [
        _condition(c) for c in status.get("conditions") or [] if c.get("type") in POD_CONDITIONS
    ]
    kept["containerStatuses"] = [
        {_k(k): c[k] for k in CONTAINER_KEPT if k in c}
        for c in status.get("containerStatuses") or []
    ]
    return kept


def _condition(condition: Mapping[str, Any]) -> JSON:
    return {
        _k(k): _k(v) if isinstance(v, str) and k != "lastTransitionTime" else v
        for k, v in condition.items()
        if k != "lastProbeTime"
    }


def _k(key: str) -> str:
    return sys.intern(key)


@dataclass
class Owned:
    """One Execution's Jobs and pods as the watches delivered them, kept as they change,
    and a numbered log of the Jobs changed: a pass asks what changed since the one before
    it, so its cost follows the change, not the number of Jobs."""

    jobs: dict[str, JSON] = field(default_factory=dict)
    pods: dict[str, dict[str, JSON]] = field(default_factory=dict)  # Job -> pod name -> pod
    newest: dict[str, JSON] = field(default_factory=dict)  # Job name -> its newest pod
    log: list[str] = field(default_factory=list)  # Job names changed, oldest first
    base: int = 0  # the number of log[0]

    @property
    def seq(self) -> int:
        return self.base + len(self.log)

    def saw_job(self, job: JSON) -> None:
        name = job["metadata"]["name"]
        self.jobs[name] = job
        self._changed(name)

    def lost_job(self, name: str) -> None:
        self.jobs.pop(name, None)
        self._changed(name)

    def saw_pod(self, pod: JSON) -> None:
        job = job_of_pod(pod)
        if job:
            self.pods.setdefault(job, {})[pod["metadata"]["name"]] = pod
            self._regroup(job)

    def lost_pod(self, pod: JSON) -> None:
        job = job_of_pod(pod)
        if job and job in self.pods:
            self.pods[job].pop(pod["metadata"]["name"], None)
            self._regroup(job)

    def _regroup(self, job: str) -> None:
        found = newest_pod(self.pods.get(job, {}).values())
        if found is None:
            self.pods.pop(job, None)
            self.newest.pop(job, None)
        else:
            self.newest[job] = found
        self._changed(job)

    def _changed(self, name: str) -> None:
        self.log.append(name)
        if len(self.log) > max(LOG_FLOOR, 4 * len(self.jobs)):
            half = len(self.log) // 2  # a reader this far behind compares everything
            del self.log[:half]
            self.base += half

    def since(self, seq: int | None) -> frozenset[str] | None:
        """The Jobs changed since ``seq``; None when that is not known any more. What is
        before ``seq`` is no longer needed (one reader per Execution): forgotten."""
        if seq is None or seq < self.base or seq > self.seq:
            return None
        del self.log[: seq - self.base]
        self.base = seq
        return frozenset(self.log)


@dataclass
class Cache:
    executions: Index | None = None  # key -> the Execution
    jobs: Index | None = None  # Execution uid -> its Jobs
    pods: Index | None = None  # Execution uid -> its pods
    requests: Index | None = None  # key of the Execution named -> its RecoveryRequests
    pages: Index | None = None  # Execution uid -> its OutputPages
    schedules: Index | None = None  # key -> the Schedule
    waiting: Index | None = None  # (namespace, Workflow) -> keys of Executions waiting for it
    written: dict[Key, JSON] = field(default_factory=dict)
    expected: dict[str, dict[str, tuple[JSON, float]]] = field(default_factory=dict)
    owned: dict[str, Owned] = field(default_factory=dict)  # Execution uid -> its Jobs, pods

    def bind(self, **indexes: Index) -> None:
        """Take kopf's index objects (they are the same for the operator's lifetime)."""
        for name, index in indexes.items():
            setattr(self, name, index)

    def execution(self, key: Key) -> JSON | None:
        seen = _one(self.executions, key)
        return dict(newer(seen, self.written.get(key)) or {}) or None

    def snapshot(
        self,
        key: Key,
        now: float | None = None,
        since: Callable[[str], int | None] | None = None,
    ) -> Snapshot | None:
        """What the caches show of the Execution ``key``; ``since(uid)``: the number of
        the snapshot the reader last took in, to be told only what changed after it. The
        collections are copies (in C): the loop goes on changing the caches meanwhile."""
        execution = self.execution(key)
        if execution is None:
            return None
        uid = execution["metadata"]["uid"]
        owned = self.owned.setdefault(uid, Owned())
        jobs = dict(owned.jobs)
        changed = owned.since(since(uid) if since else None)
        expected = self.expected.get(uid, {})
        now = time.monotonic() if now is None else now
        for name, (job, deadline) in list(expected.items()):
            if name in jobs or deadline < now:
                del expected[name]  # seen at last (or given up on)
            else:
                jobs[name] = job
        if expected and changed is not None:
            changed = changed | expected.keys()  # shown until the watch brings them
        return Snapshot(
            execution,
            jobs,
            dict(owned.newest),
            list(_all(self.requests, key)),
            changed,
            owned.seq,
            list(_all(self.pages, uid)),
        )

    def saw_job(self, uid: str, job: JSON) -> None:
        """The Jobs watch delivered ``job`` (called where kopf indexes it)."""
        self.owned.setdefault(uid, Owned()).saw_job(job)

    def saw_pod(self, uid: str, pod: JSON) -> None:
        self.owned.setdefault(uid, Owned()).saw_pod(pod)

    def lost(self, uid: str, obj: Mapping[str, Any], kind: str) -> None:
        """A Job or pod of Execution ``uid`` was deleted."""
        owned = self.owned.get(uid)
        if owned is None:
            return
        if kind == "Job":
            owned.lost_job(str(obj["metadata"]["name"]))
        else:
            owned.lost_pod(dict(obj))
        if not owned.jobs and not owned.pods and uid not in self.expected:
            del self.owned[uid]  # its Execution is gone, or has nothing left

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
        self.owned.pop(uid, None)

    def all_executions(self) -> list[Mapping[str, Any]]:
        """Every Execution the cache holds (read on the event loop, never from a thread)."""
        if self.executions is None:
            return []
        return [e for store in list(self.executions.values()) for e in store]

    def all_schedules(self) -> list[JSON]:
        if self.schedules is None:
            return []
        return [dict(s) for store in list(self.schedules.values()) for s in store]

    def waiting_for(self, namespace: str, workflow: str) -> list[Key]:
        return [(str(k[0]), str(k[1])) for k in _all(self.waiting, (namespace, workflow))]


def _all(index: Index | None, key: Any) -> Iterable[Any]:
    if index is None:
        return ()
    return list(index.get(key, ()))


def _one(index: Index | None, key: Any) -> JSON | None:
    values = list(_all(index, key))
    return dict(values[-1]) if values else None
