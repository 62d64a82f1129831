"""Facts from Kubernetes objects: a Job and its pods reduced to an ``ObservedJob``.

Pure: the shell lists the objects and hands them over as dicts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from headway.core.plan import ObservedJob
from headway.core.render import CONTAINER, LABEL_ATTEMPT, LABEL_TASK

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


def observe_job(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> ObservedJob:
    """The facts about one task attempt."""
    meta = job["metadata"]
    labels = meta.get("labels") or {}
    own = [
        p
        for p in pods
        if (p["metadata"].get("labels") or {}).get("job-name") == meta["name"]
        or (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == meta["name"]
    ]
    pod = max(own, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)
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
    }
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    timed_out = bool(failed and failed.get("reason") == "DeadlineExceeded")
    stall = None if complete or timed_out else _stall(pod, terminated, failed is not None)
    if stall:
        return ObservedJob(outcome="Running", stalled=stall, **base)
    if complete:
        base["finished_at"] = base["finished_at"] or parse_time(complete.get("lastTransitionTime"))
        return ObservedJob(outcome="Succeeded", **base)
    if failed:
        base["finished_at"] = base["finished_at"] or parse_time(failed.get("lastTransitionTime"))
        reason, message = _failure(failed, terminated, job)
        return ObservedJob(outcome="Failed", reason=reason, message=message, **base)
    since, why = _pending(job, pod)
    return ObservedJob(outcome="Running", pending_since=since, pending_reason=why, **base)


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
