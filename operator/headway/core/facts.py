"""Facts from Kubernetes objects: a Job and its pod reduced to an ``ObservedJob``.

Pure: the shell reads the objects and hands them over as dicts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from headway.core.render import ANNOTATION_KEY, CONTAINER, LABEL_ATTEMPT, LABEL_TASK

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
        and annotations.get(ANNOTATION_KEY) == want["annotations"][ANNOTATION_KEY]
    )


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


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


def latest_pods(pods: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Job name -> its newest pod, in one pass (never jobs x pods)."""
    newest: dict[str, Mapping[str, Any]] = {}
    for pod in pods:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        if not job:
            continue
        seen = newest.get(job)
        if seen is None or (meta.get("creationTimestamp") or "") >= (
            seen["metadata"].get("creationTimestamp") or ""
        ):
            newest[job] = pod
    return newest


class PodsByJob:
    """Job name -> its newest pod, kept from one pass to the next: the caches hand over the
    same pod objects, in the same order, until one changes, so only changed positions are
    regrouped (a full regroup when pods come or go)."""

    def __init__(self) -> None:
        self._pods: list[Mapping[str, Any]] = []
        self.by_job: dict[str, Mapping[str, Any]] = {}

    def update(self, pods: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        if len(pods) != len(self._pods):
            self._pods, self.by_job = list(pods), latest_pods(pods)
            return self.by_job
        changed = [new for old, new in zip(self._pods, pods, strict=True) if old is not new]
        if changed:
            self._pods = list(pods)
            if any(_job_label(p) not in self.by_job for p in changed) or len(changed) > 64:
                self.by_job = latest_pods(pods)
            else:
                for pod in changed:
                    self.by_job[_job_label(pod) or ""] = _newer_pod(
                        self.by_job.get(_job_label(pod) or ""), pod
                    )
        return self.by_job


def _job_label(pod: Mapping[str, Any]) -> str | None:
    labels = pod["metadata"].get("labels") or {}
    name = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    return str(name) if name else None


def _newer_pod(seen: Mapping[str, Any] | None, pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """``pod``, unless ``seen`` is another pod of the same Job created later."""
    if seen is None or seen["metadata"]["name"] == pod["metadata"]["name"]:
        return pod
    stamp = pod["metadata"].get("creationTimestamp") or ""
    return pod if stamp >= (seen["metadata"].get("creationTimestamp") or "") else seen


class Observations(Mapping[str, ObservedJob]):
    """Job name -> the facts about that attempt, worked out only for the Jobs a pass asks
    about (the running ones), and remembered in ``memo`` while the Job and its pod are
    unchanged (same resourceVersions), so a pass costs what changed."""

    def __init__(
        self,
        jobs: Mapping[str, Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        memo: dict[str, tuple[Any, Any, ObservedJob]] | None = None,
        pod_index: PodsByJob | None = None,
    ) -> None:
        self._jobs = jobs  # by name
        self._pods = pods
        self._by_job: dict[str, Mapping[str, Any]] | None = None
        self._memo = memo if memo is not None else {}
        self._pod_index = pod_index

    def __getitem__(self, name: str) -> ObservedJob:
        found: ObservedJob | None = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def get(self, name: str, default: Any = None) -> Any:
        # Called once per running task per pass: one call, no exception on the common path.
        job = self._jobs.get(name)
        if job is None:
            return default
        if self._by_job is None:
            index = self._pod_index
            self._by_job = index.update(self._pods) if index else latest_pods(self._pods)
        pod = self._by_job.get(name)
        # The caches hand over the same objects until they change: identity is the test.
        seen = self._memo.get(name)
        if seen is not None and seen[0] is job and seen[1] is pod:
            return seen[2]
        found = observe_job(job, pod)
        self._memo[name] = (job, pod, found)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def __iter__(self) -> Iterator[str]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)


def observe_jobs(
    jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> dict[str, ObservedJob]:
    """Job name -> the facts about that task attempt, for every Job."""
    observations = Observations({j["metadata"]["name"]: j for j in jobs}, list(pods))
    return {name: observations[name] for name in observations}


def observe_job(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> ObservedJob:
    """The facts about one task attempt, from its Job and its newest pod."""
    meta = job["metadata"]
    labels = meta.get("labels") or {}
    terminated = ((_main_status(pod).get("state") or {}).get("terminated") or {}) if pod else {}
    base: JSON = {
        "name": meta["name"],
        "task": labels.get(LABEL_TASK, ""),
        "attempt": int(labels.get(LABEL_ATTEMPT, "0")),
        "exit_code": terminated.get("exitCode"),
        "termination_message": terminated.get("message"),
        "started_at": parse_time(
            terminated.get("startedAt") or (job.get("status") or {}).get("startTime")
        ),
        "finished_at": parse_time(terminated.get("finishedAt")),
        "idempotency_key": (meta.get("annotations") or {}).get(ANNOTATION_KEY),
    }
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    # The Job's verdict, once it has one, is never contradicted.
    if complete:
        if not terminated:
            # It succeeded but its pod (and so its outputs) is gone: never a success
            # with {}; the attempt must run again.
            lost = "the attempt's pod vanished before its outputs were recorded"
            return ObservedJob(outcome="Running", stalled=lost, **base)
        base["finished_at"] = base["finished_at"] or parse_time(complete.get("lastTransitionTime"))
        return ObservedJob(outcome="Succeeded", **base)
    if failed and failed.get("reason") == "DeadlineExceeded":
        base["finished_at"] = base["finished_at"] or parse_time(failed.get("lastTransitionTime"))
        reason, message = _failure(failed, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    # Before the verdict: the main container's end is the attempt's end (no waiting for
    # the Job controller), unless the pod is going away, when only the Job can say why.
    ended = terminated.get("exitCode") is not None
    if ended and terminated["exitCode"] == 0 and not failed:
        return ObservedJob(outcome="Succeeded", **base)
    stall = _stall(pod, terminated, failed is not None)
    if stall:
        return ObservedJob(outcome="Running", stalled=stall, **base)
    if failed or (ended and pod is not None and not _going(pod)):
        verdict = failed or {}
        if failed:
            base["finished_at"] = base["finished_at"] or parse_time(
                failed.get("lastTransitionTime")
            )
        reason, message = _failure(verdict, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    since, why = _pending(job, pod)
    return ObservedJob(outcome="Running", pending_since=since, pending_reason=why, **base)


def _going(pod: Mapping[str, Any]) -> bool:
    """Being deleted, disrupted or evicted: its exit code may be the Job controller's
    doing (a deadline), so the Job's verdict decides."""
    status = pod.get("status") or {}
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return bool(pod["metadata"].get("deletionTimestamp") or disrupted or status.get("reason"))


def _stall(pod: Mapping[str, Any] | None, terminated: JSON, failed: bool) -> str | None:
    """Why the engine, not the task, lost this attempt; None if it did not."""
    if pod is not None:
        status = pod.get("status") or {}
        disruption = next(
            (
                c
                for c in status.get("conditions") or []
                if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            ),
            None,
        )
        if disruption:
            detail = disruption.get("message") or disruption.get("reason") or "disrupted"
            return f"pod {pod['metadata']['name']} was disrupted: {detail}"
        if status.get("reason") == "Evicted":
            return f"pod {pod['metadata']['name']} was evicted: {status.get('message', '')}".rstrip(
                ": "
            )
        if pod["metadata"].get("deletionTimestamp") and status.get("phase") not in (
            "Succeeded",
            "Failed",
        ):
            return f"pod {pod['metadata']['name']} was deleted before it finished"
    if failed and not terminated:
        return "the pod vanished before it finished"
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
