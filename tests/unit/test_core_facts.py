"""The facts kept from pass to pass (``JobFacts``) always equal the facts worked out afresh
from what the caches show, whatever the caches change between passes: pods changed in
place, pods replaced by a retry's pod, pods and Jobs coming and going."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from headway.core.facts import JobFacts, latest_pods, observe_jobs
from headway.runtime.cache import Owned

JSON = dict[str, Any]
JOBS = [f"exe-t{i}-1" for i in range(4)]


def job(name: str, version: int) -> JSON:
    return {
        "metadata": {"name": name, "resourceVersion": str(version), "labels": {}},
        "status": {"active": 1},
    }


def pod(name: str, job_name: str, created: int, state: str) -> JSON:
    terminated = {"exitCode": 0 if state == "ok" else 1, "message": "{}"}
    main = {"terminated": terminated} if state != "running" else {"running": {}}
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": f"2026-11-21T12:00:{created:02d}Z",
            "labels": {"job-name": job_name},
        },
        "status": {
            "phase": {"ok": "Succeeded", "bad": "Failed", "running": "Running"}[state],
            "containerStatuses": [{"name": "main", "state": main}],
        },
    }


# One change to what the caches show: (what, Job index, pod slot, state).
changes = st.tuples(
    st.sampled_from(["job", "pod", "new-pod", "drop-pod", "drop-job"]),
    st.integers(0, len(JOBS) - 1),
    st.integers(0, 5),
    st.sampled_from(["running", "ok", "bad"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(changes, min_size=1, max_size=4), min_size=1, max_size=8),
    st.booleans(),
)
def test_kept_facts_equal_fresh_facts(
    passes: list[list[tuple[str, int, int, str]]], told: bool
) -> None:
    """Whether each pass is told what changed (the cache's log: ``told``) or compares
    what it is handed, the facts kept equal the facts worked out afresh."""
    jobs = {name: job(name, 1) for name in JOBS}
    pods = [pod(f"{name}-p0", name, 0, "running") for name in JOBS]
    owned = Owned()
    for one in jobs.values():
        owned.saw_job(one)
    for one in pods:
        owned.saw_pod(one)
    facts = JobFacts()
    clock = 1
    for changed in passes:
        for what, index, slot, state in changed:
            clock += 1
            name = JOBS[index]
            if what == "job":
                jobs[name] = job(name, clock)
                owned.saw_job(jobs[name])
            elif what == "drop-job" and name in jobs:
                del jobs[name]
                owned.lost_job(name)
            elif what == "pod" and pods:
                at = slot % len(pods)
                old = pods[at]
                pods[at] = pod(old["metadata"]["name"], old["metadata"]["labels"]["job-name"],
                               clock % 60, state)  # fmt: skip
                owned.saw_pod(pods[at])
            elif what == "new-pod":
                new = pod(f"{name}-p{clock}", name, clock % 60, state)
                pods.insert(slot % (len(pods) + 1), new)
                owned.saw_pod(new)
            elif what == "drop-pod" and pods:
                owned.lost_pod(pods.pop(slot % len(pods)))
        fresh = observe_jobs(jobs.values(), pods)
        assert dict(owned.newest) == latest_pods(pods)
        since = owned.since(facts.seq) if told else None
        assert facts.update(dict(owned.jobs), dict(owned.newest), since, owned.seq) == fresh


def test_a_pod_swapped_for_another_at_the_same_place_is_regrouped() -> None:
    """One pod gone and another come in the same pass: the Job of the pod that left must
    not keep it."""
    jobs = {name: job(name, 1) for name in JOBS[:2]}
    first = [pod("a-p0", JOBS[0], 0, "running"), pod("b-p0", JOBS[1], 0, "running")]
    facts = JobFacts()
    facts.update(jobs, latest_pods(first))
    swapped = [pod("b-p1", JOBS[1], 5, "ok"), first[1]]
    kept = facts.update(jobs, latest_pods(swapped))
    assert kept == observe_jobs(jobs.values(), swapped)
    assert kept[JOBS[0]].outcome == "Running" and kept[JOBS[0]].exit_code is None


def test_a_reader_too_far_behind_the_log_compares_everything() -> None:
    owned = Owned()
    owned.saw_job(job(JOBS[0], 1))
    start = owned.seq
    for version in range(2, 3000):
        owned.saw_job(job(JOBS[0], version))
    assert owned.since(start) is None  # the log was cut: not known any more
    assert owned.since(owned.seq) == frozenset()
