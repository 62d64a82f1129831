"""Facts from Kubernetes objects: a Job and its pod reduced to an ``ObservedJob``.

Pure: the shell reads the objects and hands them over as dicts.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Any, Literal

from headway.core.render import ANNOTATION_KEY, CONTAINER, LABEL_ATTEMPT, LABEL_ITEM, LABEL_TASK
from headway.core.scan import changed_keys
from headway.models.base import parse_time

JSON = dict[str, Any]
# Waiting reasons that mean the engine cannot start the pod (not the task's fault).
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class ObservedJob:
    """What the cluster shows of one Job (and its pod), reduced to the facts plans use."""

    name: str
    task: str
    attempt: int
    outcome: Literal["Running", "Succeeded", "Failed"]
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    termination_message: str | None = None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    # A stall: the engine, not the task, lost this attempt (pod evicted, node lost...).
    stalled: str | None = None
    pending_since: datetime.datetime | None = None
    pending_reason: str | None = None
    idempotency_key: str | None = None
    # Which versions of the Job and its pod this was drawn from: a stall's evidence.
    evidence: str | None = None
    # Drawn from a direct read of the API server (``confirm_attempt``), not from the caches:
    # a stall it shows is proven.
    confirmed: bool = False
    # A direct read was inconclusive (the Job changed while it was read): look again soon.
    recheck: bool = False
    item: int | None = None  # a map item's Job: which item

    @property
    def unit(self) -> str:
        """What a pass looks at for this Job: its task, or its item (``task#index``)."""
        return self.task if self.item is None else f"{self.task}#{self.item}"

    @property
    def quiet(self) -> bool:
        """Running on with nothing to watch (no stall, no pod sitting Pending): a pass
        has nothing to do for its task."""
        return (
            self.outcome == "Running"
            and not self.stalled
            and self.pending_since is None
            and not self.recheck
        )


Quiet = AbstractSet[tuple[str, str | None]]  # ("Running", Job name) of the quiet attempts


def quiet_of(observed: Mapping[str, ObservedJob]) -> set[tuple[str, str | None]]:
    return {("Running", name) for name, job in observed.items() if job.quiet}


def is_attempt(job: Mapping[str, Any], wanted: Mapping[str, Any], owner_uid: str) -> bool:
    """Whether an existing Job is exactly the attempt ``wanted`` (a rendered manifest):
    controlled by this Execution, same task, attempt and idempotency key. Only such a
    Job is adopted when creating meets a name already taken."""
    meta, want = job["metadata"], wanted["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    owned = any(
        r.get("uid") == owner_uid and r.get("controller") for r in meta.get("ownerReferences") or []
    )
    return (
        owned
        and labels.get(LABEL_TASK) == want["labels"][LABEL_TASK]
        and labels.get(LABEL_ATTEMPT) == want["labels"][LABEL_ATTEMPT]
        and labels.get(LABEL_ITEM) == want["labels"].get(LABEL_ITEM)
        and annotations.get(ANNOTATION_KEY) == want["annotations"][ANNOTATION_KEY]
    )


def _condition(obj: Mapping[str, Any], kind: str) -> JSON | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _main_status(pod: Mapping[str, Any]) -> JSON:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((dict(s) for s in statuses if s.get("name") == CONTAINER), {})


def _pending(
    job: Mapping[str, Any], pod: Mapping[str, Any] | None
) -> tuple[datetime.datetime | None, str | None]:
    """Since when, and why, the attempt has not started running."""
    if pod is None:
        if (job.get("status") or {}).get("active"):
            return None, None
        return parse_time(job["metadata"].get("creationTimestamp")), "no pod yet"
    status = pod.get("status") or {}
    if status.get("phase") != "Pending":
        return None, None
    since = parse_time(pod["metadata"].get("creationTimestamp"))
    waiting = (_main_status(pod).get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in STUCK_REASONS:
        return since, f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
    )
    if scheduled and scheduled.get("status") == "False":
        return (
            since,
            f"{scheduled.get('reason', 'Unschedulable')}: {scheduled.get('message', '')}".rstrip(
                ": "
            ),
        )
    return since, waiting.get("reason") or "Pending"


def job_of_pod(pod: Mapping[str, Any]) -> str | None:
    """The name of the Job a pod belongs to (its job-name label)."""
    labels = pod["metadata"].get("labels") or {}
    name = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    return str(name) if name else None


def _age_key(pod: Any) -> tuple[str, str]:
    """Newest last: by creation time, then name (one order wherever pods are grouped)."""
    meta = pod["metadata"]
    return (meta.get("creationTimestamp") or "", meta["name"])


def newest_pod(pods: Collection[Mapping[str, Any]]) -> JSON | None:
    """The newest of one Job's pods (a retry of the pod by the kubelet, a reschedule)."""
    return dict(max(pods, key=_age_key)) if pods else None


def latest_pods(pods: Iterable[Mapping[str, Any]]) -> dict[str, JSON]:
    """Job name -> its newest pod, in one pass (never jobs x pods)."""
    newest: dict[str, JSON] = {}
    for pod in pods:
        job = job_of_pod(pod)
        if not job:
            continue
        seen = newest.get(job)
        if seen is None or _age_key(pod) >= _age_key(seen):
            newest[job] = dict(pod)
    return newest


class JobFacts:
    """Job name -> the facts about that attempt, kept from one pass to the next. A pass
    is told which Jobs changed (their Job, or their newest pod) when the caches know it,
    else finds them by identity (the caches hand over the same objects until one
    changes); either way it observes only those Jobs again, and the planner reads a
    plain dict."""

    def __init__(self) -> None:
        self._jobs: Mapping[str, Mapping[str, Any]] = {}  # Job name -> the Job observed
        self._newest: Mapping[str, Mapping[str, Any]] = {}  # Job name -> its newest pod
        self.facts: dict[str, ObservedJob] = {}
        self.quiet: set[tuple[str, str | None]] = set()  # kept with the facts: quiet_of(facts)
        # Tasks whose Job facts changed since the last plan that was carried out (None: a
        # Job with no task label changed, so every task must be looked at).
        self.touched: set[str] | None = set()
        self.seq: int | None = None  # the snapshot these facts were last brought up to

    def planned(self) -> None:
        """A plan made from these facts was carried out: changes from here on are new."""
        self.touched = set()

    def _touch(self, fact: ObservedJob | None) -> None:
        if fact is None or self.touched is None:
            return
        if fact.task:
            self.touched.add(fact.unit)
        else:
            self.touched = None

    def update(
        self,
        jobs: Mapping[str, Mapping[str, Any]],
        newest: Mapping[str, Mapping[str, Any]],
        changed: AbstractSet[str] | None = None,
        seq: int | None = None,
    ) -> dict[str, ObservedJob]:
        """The facts for ``jobs`` (by name) and each one's ``newest`` pod. ``changed``:
        the names whose Job or pod changed since the snapshot these facts were last
        brought up to (``seq``), when the caches know it; else they are compared."""
        if changed is None or self.seq is None:
            changed = self._compare(jobs, newest)
        for name in changed:
            job = jobs.get(name)
            if job is None:
                self._touch(self.facts.pop(name, None))
                self.quiet.discard(("Running", name))
                continue
            fact = self.facts[name] = observe_job(job, newest.get(name))
            self._touch(fact)
            if fact.quiet:
                self.quiet.add(("Running", name))
            else:
                self.quiet.discard(("Running", name))
        self._jobs, self._newest, self.seq = jobs, newest, seq
        return self.facts

    def _compare(
        self, jobs: Mapping[str, Mapping[str, Any]], newest: Mapping[str, Mapping[str, Any]]
    ) -> set[str]:
        """The names whose Job or newest pod is not the object seen before, or is gone
        (the scans run in C)."""
        found = set(changed_keys(jobs, self._jobs)) | set(changed_keys(newest, self._newest))
        found |= self.facts.keys() - jobs.keys()
        found |= self._newest.keys() - newest.keys()
        return found


def observe_jobs(
    jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> dict[str, ObservedJob]:
    """Job name -> the facts about that task attempt, for every Job."""
    return JobFacts().update({j["metadata"]["name"]: j for j in jobs}, latest_pods(pods))


def observe_job(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> ObservedJob:
    """The facts about one task attempt, from its Job and its newest pod as the caches
    show them. The attempt's end is decided from all the evidence, in this order:

    1. The Job controller's verdict of a deadline (``FailureTarget`` or ``Failed`` with
       ``DeadlineExceeded``): a task failure, ``Timeout``, whatever the pod shows (the
       controller marks the Job before it deletes the pod).
    2. ``Complete`` (or ``SuccessCriteriaMet``): Succeeded once the pod's termination (and
       so the outputs) is seen; a pod not yet terminated in the cache is a cache behind
       the Job's, so wait; no pod at all is a *suspected* stall (outputs lost).
    3. The main container's own end, on a pod not going away: exit 0 is a success, any
       other a failure (no waiting for the Job controller).
    4. A pod evicted, disrupted, or deleted before it finished; a Job being deleted; a
       ``Failed`` Job whose pod is gone: *suspected* stalls.
    5. A pod going away that has ended, or a ``Failed`` Job whose pod the cache still
       shows running: wait for the evidence that decides.

    A suspected stall is only that: the planner acts on one only once a direct read of
    the Job and its pods (``confirm_attempt``) shows the same."""
    meta = job["metadata"]
    labels = meta.get("labels") or {}
    terminated = ((_main_status(pod).get("state") or {}).get("terminated") or {}) if pod else {}
    base: JSON = {
        "name": meta["name"],
        "task": labels.get(LABEL_TASK, ""),
        "attempt": int(labels.get(LABEL_ATTEMPT, "0")),
        "item": _item(labels),
        "exit_code": terminated.get("exitCode"),
        "termination_message": terminated.get("message"),
        "started_at": parse_time(
            terminated.get("startedAt") or (job.get("status") or {}).get("startTime")
        ),
        "finished_at": parse_time(terminated.get("finishedAt")),
        "idempotency_key": (meta.get("annotations") or {}).get(ANNOTATION_KEY),
        "evidence": _versions(job, pod),
    }
    complete = _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet")
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    if failed and failed.get("reason") == "DeadlineExceeded":
        base["finished_at"] = base["finished_at"] or parse_time(failed.get("lastTransitionTime"))
        reason, message = _failure(failed, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    if complete:
        if terminated:
            base["finished_at"] = base["finished_at"] or parse_time(
                complete.get("lastTransitionTime")
            )
            return ObservedJob(outcome="Succeeded", **base)
        if pod is None:
            since = complete.get("lastTransitionTime", "?")
            lost = (
                f"Job {meta['name']} is Complete (since {since}) but its pod and outputs are gone"
            )
            return ObservedJob(outcome="Running", stalled=lost, **base)
        return ObservedJob(outcome="Running", **base)  # the pod cache is behind the Job's
    ended = terminated.get("exitCode") is not None
    going = pod is not None and _going(pod)
    if ended and not going and not failed:
        if terminated["exitCode"] == 0:
            return ObservedJob(outcome="Succeeded", **base)
        reason, message = _failure({}, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    stall = _stall(job, pod, terminated, failed)
    if stall:
        return ObservedJob(outcome="Running", stalled=stall, **base)
    if failed and ended and not going:
        base["finished_at"] = base["finished_at"] or parse_time(failed.get("lastTransitionTime"))
        reason, message = _failure(failed, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    if failed or going:
        return ObservedJob(outcome="Running", **base)  # wait for what decides
    since, why = _pending(job, pod)
    return ObservedJob(outcome="Running", pending_since=since, pending_reason=why, **base)


def _item(labels: Mapping[str, Any]) -> int | None:
    value = labels.get(LABEL_ITEM)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _versions(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> str:
    """Which versions of the Job and pod a fact was drawn from (a stall's evidence)."""
    seen = f"Job rv {job['metadata'].get('resourceVersion', '?')}"
    if pod is None:
        return f"{seen}, no pod"
    return f"{seen}, pod {pod['metadata']['name']} rv {pod['metadata'].get('resourceVersion', '?')}"


def _going(pod: Mapping[str, Any]) -> bool:
    """Being deleted, disrupted or evicted: its exit code may be the Job controller's
    doing (a deadline), so the Job's verdict decides."""
    status = pod.get("status") or {}
    return bool(
        pod["metadata"].get("deletionTimestamp")
        or _disruption(pod)
        or status.get("reason") == "Evicted"
    )


def _disruption(pod: Mapping[str, Any]) -> JSON | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return dict(condition)
    return None


def _stall(
    job: Mapping[str, Any], pod: Mapping[str, Any] | None, terminated: JSON, failed: JSON | None
) -> str | None:
    """Why the engine, not the task, may have lost this attempt; None if nothing says so.
    (Called once a deadline and a success are ruled out.)"""
    if pod is not None:
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        disruption = _disruption(pod)
        if disruption:
            detail = disruption.get("message") or disruption.get("reason") or "disrupted"
            return f"pod {name} was disrupted: {detail}"
        if status.get("reason") == "Evicted":
            return f"pod {name} was evicted: {status.get('message', '')}".rstrip(": ")
        deleted = pod["metadata"].get("deletionTimestamp")
        if deleted and not terminated:
            return f"pod {name} was deleted at {deleted} before it finished"
        if deleted and failed:
            return f"pod {name} was deleted at {deleted} and its Job failed for it"
    elif failed:
        since = failed.get("lastTransitionTime", "?")
        return f"Job {job['metadata']['name']} failed (since {since}) and its pod is gone"
    deleted = job["metadata"].get("deletionTimestamp")
    if deleted and not terminated:
        return f"Job {job['metadata']['name']} is being deleted (since {deleted})"
    return None


def _failure(condition: JSON, terminated: JSON, job: Mapping[str, Any]) -> tuple[str, str]:
    if condition.get("reason") == "DeadlineExceeded":
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return "Timeout", f"the attempt ran longer than timeoutSeconds ({deadline}s)"
    if terminated.get("reason") == "StartError":
        return "StartError", str(terminated.get("message") or "the container could not start")
    if terminated.get("exitCode") not in (None, 0):
        detail = (terminated.get("message") or "").strip()
        message = f"exited with code {terminated['exitCode']}"
        return "NonZeroExit", f"{message}: {detail[:300]}" if detail else message
    return str(condition.get("reason") or "Failed"), str(
        condition.get("message") or "the Job failed"
    )


@dataclass(frozen=True)
class AttemptRead:
    """A direct read of one attempt, in this order: its Job, then its pods (a consistent
    LIST), then its Job again. The pods are at least as new as the first Job; the second
    Job is at least as new as the pods."""

    name: str
    before: Mapping[str, Any] | None
    pods: Sequence[Mapping[str, Any]]
    pods_version: str
    after: Mapping[str, Any] | None


def confirm_attempt(read: AttemptRead, cached: ObservedJob | None) -> ObservedJob:
    """The facts of an attempt from a direct read, so that a stall is declared only on
    proof, never because one watch cache is behind another. A stall is proven when both
    readings of the Job agree with the pods: the first Job is no newer than the pods, so
    a pod it needs and they lack is really gone (a Complete Job's pod); the second is no
    older, so a deadline that deleted the pod is already on it. When the readings
    disagree the Job changed meanwhile: nothing is proven, look again. The evidence
    names the versions the caches showed (``cached``) and those read."""
    pod = latest_pods(read.pods).get(read.name)
    seen = f"the caches showed {cached.evidence if cached else 'no such Job'}"
    read_at = f"{seen}; a direct read found pods at rv {read.pods_version}"
    if read.after is None:
        gone = f"Job {read.name} is gone"
        evidence = f"{read_at} and no such Job"
        return ObservedJob(
            read.name, "", 0, "Running", stalled=gone, evidence=evidence, confirmed=True
        )
    now = observe_job(read.after, pod)
    evidence = f"{read_at}, {now.evidence}"
    then = observe_job(read.before, pod) if read.before is not None else None
    if now.stalled and then is not None and then.stalled:
        return replace(now, evidence=evidence, confirmed=True)
    if now.stalled:
        return replace(now, stalled=None, evidence=evidence, recheck=True)
    return replace(now, evidence=evidence, confirmed=True)
