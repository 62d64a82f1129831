"""How an attempt ends, decided from all the evidence a real cluster produces: the pod's
termination, the Job's ``FailureTarget``/``Failed``/``SuccessCriteriaMet``/``Complete``
conditions and their reasons, deletions in progress, and what a direct read shows when
the caches suggest a stall (``confirm_attempt``)."""

from __future__ import annotations

from typing import Any

import pytest

from headway.core.facts import AttemptRead, ObservedJob, confirm_attempt, observe_job

JSON = dict[str, Any]
NAME = "exe-a-1"


def condition(kind: str, reason: str) -> JSON:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "lastTransitionTime": "2026-11-21T12:00:09Z",
    }


DEADLINE_TARGET = condition("FailureTarget", "DeadlineExceeded")
DEADLINE = condition("Failed", "DeadlineExceeded")
BACKOFF_TARGET = condition("FailureTarget", "BackoffLimitExceeded")
BACKOFF = condition("Failed", "BackoffLimitExceeded")
SUCCESS_MET = condition("SuccessCriteriaMet", "CompletionsReached")
COMPLETE = condition("Complete", "CompletionsReached")


def job(*conditions: JSON, active: int = 1, deleting: bool = False, version: int = 10) -> JSON:
    meta: JSON = {
        "name": NAME,
        "resourceVersion": str(version),
        "creationTimestamp": "2026-11-21T12:00:00Z",
        "labels": {"headway.dev/task": "a", "headway.dev/attempt": "1"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T12:00:08Z"
    return {
        "metadata": meta,
        "spec": {"activeDeadlineSeconds": 3},
        "status": {"conditions": list(conditions), "active": 0 if conditions else active},
    }


RUNNING: JSON = {"running": {"startedAt": "2026-11-21T12:00:01Z"}}


def ended(code: int, message: str = "") -> JSON:
    return {
        "terminated": {
            "exitCode": code,
            "message": message,
            "finishedAt": "2026-11-21T12:00:07Z",
        }
    }


def pod(
    phase: str,
    state: JSON,
    *,
    deleting: bool = False,
    disruption: str | None = None,
    reason: str | None = None,
) -> JSON:
    meta: JSON = {
        "name": f"{NAME}-p",
        "resourceVersion": "12",
        "creationTimestamp": "2026-11-21T12:00:01Z",
        "labels": {"batch.kubernetes.io/job-name": NAME, "job-name": NAME},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T12:00:08Z"
    status: JSON = {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]}
    if disruption:
        status["conditions"] = [
            {"type": "DisruptionTarget", "status": "True", "reason": disruption,
             "message": f"{disruption} says so"}
        ]  # fmt: skip
    if reason:
        status["reason"], status["message"] = reason, "The node was low on memory."
    return {"metadata": meta, "status": status}


# (case, Job, pod or None) -> (outcome, reason, a suspected stall's words or None)
CASES: list[tuple[str, JSON, JSON | None, tuple[str, str | None, str | None]]] = [
    # A deadline: the controller marks the Job (FailureTarget) before deleting the pod.
    ("deadline, pod being killed", job(DEADLINE_TARGET),
     pod("Running", RUNNING, deleting=True), ("Failed", "Timeout", None)),
    ("deadline, pod killed", job(DEADLINE_TARGET),
     pod("Failed", ended(143), deleting=True), ("Failed", "Timeout", None)),
    ("deadline, pod gone", job(DEADLINE_TARGET, DEADLINE), None, ("Failed", "Timeout", None)),
    ("deadline, pod had exited 0", job(DEADLINE), pod("Succeeded", ended(0)),
     ("Failed", "Timeout", None)),
    # The pod's deletion seen before the Job's mark: suspected only (a read decides).
    ("pod deleted, no verdict yet", job(), pod("Running", RUNNING, deleting=True),
     ("Running", None, "pod exe-a-1-p was deleted at 2026-11-21T12:00:08Z before it finished")),
    ("pod deleted and ended, no verdict yet", job(), pod("Failed", ended(143), deleting=True),
     ("Running", None, None)),
    ("pod deleted, exited 0, no verdict yet", job(), pod("Succeeded", ended(0), deleting=True),
     ("Running", None, None)),
    # A person deleted the pod: the Job fails for it (a terminating pod counts as failed).
    ("pod deleted by a person, Job failed", job(BACKOFF_TARGET),
     pod("Failed", ended(143), deleting=True),
     ("Running", None,
      "pod exe-a-1-p was deleted at 2026-11-21T12:00:08Z and its Job failed for it")),
    # Eviction and node loss.
    ("evicted", job(BACKOFF_TARGET),
     pod("Failed", ended(137), reason="Evicted", disruption="EvictionByEvictionAPI"),
     ("Running", None, "pod exe-a-1-p was disrupted: EvictionByEvictionAPI says so")),
    ("evicted by the kubelet", job(), pod("Failed", RUNNING, reason="Evicted"),
     ("Running", None, "pod exe-a-1-p was evicted: The node was low on memory.")),
    ("node lost, taint manager", job(),
     pod("Running", RUNNING, deleting=True, disruption="DeletionByTaintManager"),
     ("Running", None, "pod exe-a-1-p was disrupted: DeletionByTaintManager says so")),
    ("node lost, pod collected", job(BACKOFF_TARGET, BACKOFF), None,
     ("Running", None, "Job exe-a-1 failed (since 2026-11-21T12:00:09Z) and its pod is gone")),
    # A person deleted the Job (the caches still show it, being deleted).
    ("Job being deleted", job(deleting=True), pod("Running", RUNNING),
     ("Running", None, "Job exe-a-1 is being deleted (since 2026-11-21T12:00:08Z)")),
    ("Job being deleted after its pod ended", job(deleting=True), pod("Failed", ended(2)),
     ("Failed", "NonZeroExit", None)),
    # Success.
    ("complete", job(SUCCESS_MET, COMPLETE), pod("Succeeded", ended(0, "{}")),
     ("Succeeded", None, None)),
    ("success criteria met", job(SUCCESS_MET), pod("Succeeded", ended(0, "{}")),
     ("Succeeded", None, None)),
    ("exited 0, no verdict yet", job(), pod("Succeeded", ended(0, "{}")),
     ("Succeeded", None, None)),
    ("complete, pod cache behind", job(COMPLETE), pod("Running", RUNNING),
     ("Running", None, None)),
    ("complete, pod gone", job(COMPLETE), None,
     ("Running", None,
      "Job exe-a-1 is Complete (since 2026-11-21T12:00:09Z) but its pod and outputs are gone")),
    # A task failure.
    ("exited 3", job(), pod("Failed", ended(3, "boom")), ("Failed", "NonZeroExit", None)),
    ("exited 3, Job failed", job(BACKOFF_TARGET, BACKOFF), pod("Failed", ended(3, "boom")),
     ("Failed", "NonZeroExit", None)),
    ("Job failed, pod cache behind", job(BACKOFF_TARGET), pod("Running", RUNNING),
     ("Running", None, None)),
    ("start error", job(BACKOFF), pod("Failed", {"terminated": {"exitCode": 128,
     "reason": "StartError", "message": "no such file"}}), ("Failed", "StartError", None)),
    # Running, and not yet.
    ("running", job(), pod("Running", RUNNING), ("Running", None, None)),
    ("no pod yet", job(active=0), None, ("Running", None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("job_obj", "pod_obj", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_an_attempt_ends_as_all_the_evidence_says(
    job_obj: JSON, pod_obj: JSON | None, expected: tuple[str, str | None, str | None]
) -> None:
    seen = observe_job(job_obj, pod_obj)
    assert (seen.outcome, seen.reason, seen.stalled) == expected
    assert seen.evidence is not None and "Job rv 10" in seen.evidence
    assert not seen.confirmed


def test_a_timeout_is_reported_with_the_deadline() -> None:
    seen = observe_job(job(DEADLINE_TARGET), None)
    assert seen.message == "the attempt ran longer than timeoutSeconds (3s)"
    assert seen.finished_at is not None


def read(before: JSON | None, pods: list[JSON], after: JSON | None) -> AttemptRead:
    return AttemptRead(NAME, before, pods, "15", after)


CACHED = ObservedJob(NAME, "a", 1, "Running", stalled="x", evidence="Job rv 10, no pod")


def test_a_deadline_the_job_cache_had_not_shown_is_a_timeout_not_a_stall() -> None:
    """The pod cache showed the pod deleted before the Job cache showed FailureTarget:
    the read takes the Job again after the pods, and finds the deadline."""
    killed = pod("Running", RUNNING, deleting=True)
    assert observe_job(job(), killed).stalled  # what the caches suggested
    fact = confirm_attempt(read(job(), [killed], job(DEADLINE_TARGET, version=11)), CACHED)
    assert (fact.outcome, fact.reason, fact.stalled, fact.confirmed) == (
        "Failed", "Timeout", None, True,
    )  # fmt: skip


def test_a_pod_deleted_by_a_person_is_a_proven_stall_with_its_evidence() -> None:
    killed = pod("Running", RUNNING, deleting=True)
    fact = confirm_attempt(read(job(), [killed], job(version=11)), CACHED)
    assert fact.confirmed and fact.stalled and "deleted" in fact.stalled
    assert fact.evidence == (
        "the caches showed Job rv 10, no pod; a direct read found pods at rv 15, "
        "Job rv 11, pod exe-a-1-p rv 12"
    )


def test_a_complete_job_whose_pod_the_read_shows_is_a_success() -> None:
    """The cache had the Job Complete and no pod (listed before the pod came): the read
    finds the pod and its outputs."""
    done = pod("Succeeded", ended(0, '{"v": 1}'))
    fact = confirm_attempt(read(job(COMPLETE), [done], job(COMPLETE)), CACHED)
    assert (fact.outcome, fact.termination_message, fact.stalled) == ("Succeeded", '{"v": 1}', None)


def test_a_complete_job_whose_pod_is_really_gone_is_a_proven_stall() -> None:
    fact = confirm_attempt(read(job(COMPLETE), [], job(COMPLETE)), CACHED)
    assert fact.confirmed and fact.stalled and "outputs" in fact.stalled


def test_a_job_that_completed_between_the_reads_proves_nothing() -> None:
    """The first reading had no verdict (its pod may not have been listed yet), the second
    is Complete: nothing proves the pod gone; look again."""
    fact = confirm_attempt(read(job(active=0), [], job(COMPLETE, version=11)), CACHED)
    assert (fact.stalled, fact.recheck, fact.confirmed) == (None, True, False)
    assert not fact.quiet


def test_a_job_deleted_by_a_person_is_a_proven_stall() -> None:
    fact = confirm_attempt(read(None, [], None), None)
    assert fact.confirmed and fact.stalled == "Job exe-a-1 is gone"
    assert (
        fact.evidence
        == "the caches showed no such Job; a direct read found pods at rv 15 and no such Job"
    )


def test_a_job_deleted_between_the_reads_is_gone() -> None:
    fact = confirm_attempt(read(job(), [pod("Running", RUNNING)], None), CACHED)
    assert fact.confirmed and fact.stalled == "Job exe-a-1 is gone"
