"""Maps end to end: one Job per item attempt, outputs gathered in item order, and
recovery by item (Flow, RecoveryRequest items for Flow, Step and ProvideOutputs, the
list's task rerun), as a user drives them against the chart-installed operator."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from headway.shell.kube import KubeError, path_of
from localcluster.chart_operator import ChartOperator
from support import (
    GATE_ENV,
    OUT,
    READER,
    WF,
    Cluster,
    annotate,
    create,
    execution,
    gate,
    grant,
    job_uids,
    jobs_of,
    request,
    run,
    start,
    wait_for,
    wait_phase,
    wait_request,
)

pytestmark = pytest.mark.e2e
JSON = dict[str, Any]


def lister(values: list[Any]) -> JSON:
    """A task whose outputs hold ``files``: the list to map over."""
    text = json.dumps({"files": values}).replace('"', '\\"')
    return {"name": "list", "command": ["sh", "-c", f'echo "{text}" > {OUT}']}


def worker(bad: list[int], **map_spec: Any) -> JSON:
    """A map over the list's files: item N outputs {"n": N}; the items in ``bad`` fail
    until the gate opens. Values reach the shell through env, never the code."""
    code = (
        'case " $BAD " in *" $ITEM "*) test "$GATE" = open || exit 3;; esac; '
        f'echo "{{\\"n\\": $ITEM, \\"at\\": $HEADWAY_ITEM_INDEX}}" > {OUT}'
    )
    return {
        "name": "proc",
        "dependencies": ["list"],
        "map": {"items": "{{ tasks.list.outputs.files }}", **map_spec},
        "command": ["sh", "-c", code],
        "env": [
            {"name": "ITEM", "value": "{{ item }}"},
            {"name": "BAD", "value": " ".join(map(str, bad))},
            GATE_ENV,
        ],
    }


# The successor passes on what it was given, read from the inputs file.
SUMMER: JSON = {
    "name": "sum",
    "dependencies": ["proc"],
    "command": ["sh", "-c", f'cat "$HEADWAY_INPUTS_FILE" > {OUT}'],
}


def item_jobs(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """The map's Jobs: name -> uid."""
    return {n: u for n, u in job_uids(cluster, namespace, name).items() if "-proc-" in n}


def map_of(obj: JSON) -> JSON:
    return dict(obj["status"]["tasks"]["proc"]["map"])


def test_a_failed_map_reruns_exactly_its_failed_items(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    start(cluster, namespace, "fan", [lister(list(range(8))), worker([2, 5]), SUMMER])
    failed = wait_phase(cluster.kube, namespace, "fan-1", "Failed")
    proc = failed["status"]["tasks"]["proc"]
    assert proc["phase"] == "Failed" and proc["reason"] == "ItemsFailed"
    assert "items 2, 5" in proc["message"]
    assert proc["map"]["phases"] == "SSFSSFSS"
    assert set(proc["map"]["items"]) == {"2", "5"}  # detail only where an item failed
    assert failed["status"]["tasks"]["sum"]["phase"] == "Pending"
    before = item_jobs(cluster, namespace, "fan-1")
    assert len(before) == 8

    gate(cluster, namespace, "open")
    annotate(cluster.kube, namespace, "fan-1", "retry-1")
    done = wait_phase(cluster.kube, namespace, "fan-1", "Succeeded")
    after = item_jobs(cluster, namespace, "fan-1")
    assert set(after) - set(before) == {"fan-1-proc-2-2", "fan-1-proc-5-2"}
    assert all(after[name] == uid for name, uid in before.items())  # the rest untouched
    status = done["status"]
    assert status["tasks"]["proc"]["map"]["phases"] == "S" * 8
    assert status["tasks"]["proc"]["map"]["attempts"] == {"2": 2, "5": 2}
    gathered = status["tasks"]["sum"]["outputs"]["proc"]
    assert gathered == [{"n": i, "at": i} for i in range(8)]  # in item order
    retriggered = [h for h in status["history"] if h["event"] == "Retriggered"]
    assert retriggered[-1]["task"] == "proc" and retriggered[-1]["items"] == [2, 5]


def test_recovery_requests_name_items_for_flow_step_and_provided_outputs(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "closed")
    start(cluster, namespace, "pick", [lister([10, 11, 12, 13]), worker([11, 13]), SUMMER])
    wait_phase(cluster.kube, namespace, "pick-1", "Failed")
    before = item_jobs(cluster, namespace, "pick-1")

    # A bad item number is rejected, naming the items there are; nothing changes.
    request(cluster.kube, namespace, "bad-item", "pick-1", mode="Flow", task="proc", items=[9])
    rejected = wait_request(cluster, namespace, "bad-item", "Rejected")
    assert "4 items (0 to 3)" in rejected["status"]["message"]
    # ProvideOutputs on a map must name its items.
    request(cluster.kube, namespace, "no-items", "pick-1", mode="ProvideOutputs", task="proc",
            outputs={"n": 0})  # fmt: skip
    assert (
        "names the items"
        in wait_request(cluster, namespace, "no-items", "Rejected")["status"]["message"]
    )

    # Step on item 1 only (still failing): one new Job, the successor held.
    request(cluster.kube, namespace, "step-1", "pick-1", mode="Step", task="proc", items=[1])
    stepped = wait_request(cluster, namespace, "step-1", "Succeeded", "Failed")
    assert stepped["status"]["items"] == {"proc": [1]}
    assert set(item_jobs(cluster, namespace, "pick-1")) - set(before) == {"pick-1-proc-1-2"}

    # Item 3's result given by hand, then a Flow of item 1 with the gate open.
    request(cluster.kube, namespace, "give-3", "pick-1", mode="ProvideOutputs", task="proc",
            items=[3], outputs={"n": 13, "at": 3})  # fmt: skip
    wait_request(cluster, namespace, "give-3", "Succeeded")
    gate(cluster, namespace, "open")
    request(cluster.kube, namespace, "flow-1", "pick-1", mode="Flow", task="proc", items=[1])
    wait_request(cluster, namespace, "flow-1", "Succeeded")
    done = wait_phase(cluster.kube, namespace, "pick-1", "Succeeded")
    after = item_jobs(cluster, namespace, "pick-1")
    assert set(after) - set(before) == {"pick-1-proc-1-2", "pick-1-proc-1-3"}
    assert all(after[name] == uid for name, uid in before.items())
    gathered = done["status"]["tasks"]["sum"]["outputs"]["proc"]
    assert gathered == [{"n": 10 + i, "at": i} for i in range(4)]
    given = [h for h in done["status"]["history"] if h["event"] == "OutputsProvided"]
    assert given[-1]["items"] == [3] and given[-1]["by"]


def test_a_rerun_list_keeps_the_items_it_still_holds(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """The list's task reruns and its list grows by two: only the new items run."""
    values = {"metadata": {"name": "values"}, "data": {"files": "[1, 2, 3]"}}
    cluster.kube.create(path_of("v1", "configmaps", namespace), values)
    reading = {
        "name": "list",
        "command": ["sh", "-c", f'printf \'{{"files": %s}}\' "$FILES" > {OUT}'],
        "env": [{"name": "FILES", "valueFrom": {"configMapKeyRef": {"name": "values",
                                                                    "key": "files"}}}],
    }  # fmt: skip
    gate(cluster, namespace, "open")
    start(cluster, namespace, "grow", [reading, worker([]), SUMMER])
    wait_phase(cluster.kube, namespace, "grow-1", "Succeeded")
    before = item_jobs(cluster, namespace, "grow-1")
    assert sorted(before) == [f"grow-1-proc-{i}-1" for i in range(3)]

    cluster.kube.patch(path_of("v1", "configmaps", namespace, "values"),
                       {"data": {"files": "[1, 2, 3, 4, 5]"}})  # fmt: skip
    request(cluster.kube, namespace, "again", "grow-1", mode="Flow", task="list")
    wait_request(cluster, namespace, "again", "Succeeded")
    done = wait_phase(cluster.kube, namespace, "grow-1", "Succeeded")
    after = item_jobs(cluster, namespace, "grow-1")
    assert set(after) - set(before) == {"grow-1-proc-3-1", "grow-1-proc-4-1"}
    assert all(after[name] == uid for name, uid in before.items())
    expanded = [h for h in done["status"]["history"] if h["event"] == "Expanded"]
    assert expanded[-1]["message"] == "5 items, 3 kept"
    assert len(done["status"]["tasks"]["sum"]["outputs"]["proc"]) == 5


def test_bad_lists_are_refused_at_admission_or_fail_the_task_naming_why(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    def refused(spec: JSON) -> str:
        body = {"apiVersion": WF, "kind": "Workflow", "metadata": {"name": "bad"}, "spec": spec}
        with pytest.raises(KubeError) as error:
            create(cluster.kube, namespace, body)
        return error.value.message

    base: JSON = {"name": "m", "image": "busybox", "command": ["echo"]}
    message = refused({"tasks": [{**base, "map": {"items": [{"a": 1}, {"b": 2}]},
                                  "args": ["{{ item.a }}"]}]})  # fmt: skip
    assert 'item 1 has no key "a"' in message
    message = refused({"params": [{"name": "ids", "default": "not json"}],
                       "tasks": [{**base, "map": {"items": "{{ params.ids }}"}}]})  # fmt: skip
    assert 'parameter "ids"' in message and "not a JSON list" in message
    message = refused({"tasks": [{**base, "args": ["{{ item }}"]}]})
    assert "has no map" in message
    # A param's value given with the Execution is checked when the Execution is applied.
    by_param = {"params": [{"name": "ids", "default": "[1, 2]"}],
                "tasks": [{**base, "map": {"items": "{{ params.ids }}"}}]}  # fmt: skip
    create(cluster.kube, namespace, {"apiVersion": WF, "kind": "Workflow",
                                     "metadata": {"name": "ids"}, "spec": by_param})  # fmt: skip
    run = {"apiVersion": WF, "kind": "Execution", "metadata": {"name": "ids-1"},
           "spec": {"workflowRef": {"name": "ids"}, "params": {"ids": "{not a list"}}}  # fmt: skip
    with pytest.raises(KubeError) as error:
        create(cluster.kube, namespace, run)
    assert 'parameter "ids"' in error.value.message and "not a JSON list" in error.value.message

    # Known only at run time: the list's task gives an object, not a list.
    gate(cluster, namespace, "open")
    not_list = {"name": "list", "command": ["sh", "-c", f'echo "{{\\"files\\": 7}}" > {OUT}']}
    start(cluster, namespace, "odd", [not_list, worker([])])
    failed = wait_phase(cluster.kube, namespace, "odd-1", "Failed")
    proc = failed["status"]["tasks"]["proc"]
    assert proc["reason"] == "InvalidItems" and "is a int, not a list" in proc["message"]
    assert not [
        j for j in jobs_of(cluster.kube, namespace, "odd-1") if "-proc-" in j["metadata"]["name"]
    ]


def test_map_parallelism_and_an_empty_list(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    gate(cluster, namespace, "open")
    start(cluster, namespace, "capped", [lister(list(range(6))), worker([], parallelism=2)])
    seen: set[str] = set()

    def succeeded() -> bool:
        status = execution(cluster.kube, namespace, "capped-1").get("status") or {}
        phases = ((status.get("tasks") or {}).get("proc") or {}).get("map", {}).get("phases", "")
        seen.add(phases)
        return status.get("phase") == "Succeeded"

    wait_for(succeeded, "the capped map to succeed", timeout=180)
    assert max(p.count("R") for p in seen) <= 2, seen
    start(cluster, namespace, "empty", [lister([]), worker([]), SUMMER])
    done = wait_phase(cluster.kube, namespace, "empty-1", "Succeeded")
    assert done["status"]["tasks"]["sum"]["outputs"] == {"proc": []}


def reached(count: Callable[[], int], least: int) -> bool:
    return count() >= least


def test_an_operator_killed_mid_map_starts_no_item_twice_and_loses_none(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """40 items, four at a time; the operator SIGKILLed twice while they run: every item
    has exactly one Job (attempt 1), and every output arrives, in order."""
    gate(cluster, namespace, "open")
    slow = worker([], parallelism=4)
    slow["command"] = ["sh", "-c", "sleep 0.3; " + slow["command"][2]]
    start(cluster, namespace, "kill", [lister(list(range(40))), slow, SUMMER])

    def succeeded() -> int:
        status = execution(cluster.kube, namespace, "kill-1").get("status") or {}
        state = ((status.get("tasks") or {}).get("proc") or {}).get("map") or {}
        return str(state.get("phases", "")).count("S")

    for seen in (8, 24):
        wait_for(functools.partial(reached, succeeded, seen), f"{seen} items to succeed")
        operator.kill()
        operator.start()
    done = wait_phase(cluster.kube, namespace, "kill-1", "Succeeded", timeout=300)
    assert sorted(item_jobs(cluster, namespace, "kill-1")) == sorted(
        f"kill-1-proc-{i}-1" for i in range(40)
    )
    assert done["status"]["tasks"]["proc"]["map"]["attempts"] == {}
    assert done["status"]["tasks"]["sum"]["outputs"]["proc"] == [
        {"n": i, "at": i} for i in range(40)
    ]


def test_outputs_past_the_status_limit_live_in_output_pages_through_a_restart_and_a_recovery(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    """100 items of 3 KB outputs (300 KB, past the 256 KiB the status keeps): the page
    moves to an OutputPage the Execution owns; the operator restarted, a Flow reruns the
    failed item, whose outputs land in that page; a reader sees every item's outputs."""
    grant(cluster, namespace, "carol", *READER)
    gate(cluster, namespace, "closed")
    big = worker([97])
    big["command"] = [
        "sh",
        "-c",
        'case "$ITEM" in 97) test "$GATE" = open || exit 3;; esac; '
        f'echo "{{\\"n\\": $ITEM, \\"pad\\": \\"$PAD\\"}}" > {OUT}',
    ]
    big["env"] = [*big["env"], {"name": "PAD", "value": "x" * 3_000}]
    start(cluster, namespace, "wide", [lister(list(range(100))), big])
    failed = wait_phase(cluster.kube, namespace, "wide-1", "Failed", timeout=300)
    state = map_of(failed)
    assert state["stored"] and not set(state["stored"]) & set(state.get("outputs") or {})
    assert len(json.dumps(failed)) < 64 * 1024  # the 300 KB are not in the Execution
    pages_path = path_of(WF, "outputpages", namespace)
    [page] = cluster.kube.get(pages_path)["items"]
    assert page["metadata"]["ownerReferences"][0]["uid"] == failed["metadata"]["uid"]
    assert page["spec"]["digest"] == state["stored"]["0"]
    assert len(page["spec"]["outputs"]) == 99 and "97" not in page["spec"]["outputs"]

    operator.kill()  # the page is read back from the new leader's cache
    operator.start()
    gate(cluster, namespace, "open")
    annotate(cluster.kube, namespace, "wide-1", "again")
    done = wait_phase(cluster.kube, namespace, "wide-1", "Succeeded")
    [page] = cluster.kube.get(pages_path)["items"]
    assert page["spec"]["outputs"]["97"]["n"] == 97 and len(page["spec"]["outputs"]) == 100
    assert page["spec"]["digest"] == map_of(done)["stored"]["0"]
    assert set(item_jobs(cluster, namespace, "wide-1")) - {
        f"wide-1-proc-{i}-1" for i in range(100)
    } == {"wide-1-proc-97-2"}

    # A reader's `get --items` shows the outputs kept in the page (the chart's view role).
    listed = run(cluster, "carol", namespace, "get", "wide-1", "--items")
    assert listed.returncode == 0, listed.stderr
    rows = {r.split()[0]: r for r in listed.stdout.splitlines() if r.strip()[:1].isdigit()}
    assert '{"n":97,"pad":"xxx' in rows["97"], rows["97"]

    # Someone changing the page is refused, never read as outputs: the run says so.
    tampered = {"spec": {**page["spec"], "outputs": {**page["spec"]["outputs"], "5": {"n": -1}}}}
    cluster.kube.patch(f"{pages_path}/{page['metadata']['name']}", tampered)
    # Any change to the Execution makes the operator read its status (and pages) again;
    # until its page watch has delivered the change it still holds the page as written
    # (and uses that, rightly): so change it again now and then until the refusal shows.
    pokes = itertools.count()

    def refused() -> bool:
        count = next(pokes)
        if count % 12 == 0:  # about every 3 s
            poke = {"metadata": {"labels": {"poked": str(count)}}}
            cluster.kube.patch(path_of(WF, "executions", namespace, "wide-1"), poke)
        return _has_event(cluster, namespace, "wide-1", "OutputsMissing")

    wait_for(refused, "an OutputsMissing event")
    assert execution(cluster.kube, namespace, "wide-1")["status"]["phase"] == "Succeeded"


def _has_event(cluster: Cluster, namespace: str, name: str, reason: str) -> bool:
    found = cluster.kube.get(
        path_of("v1", "events", namespace), fieldSelector=f"involvedObject.name={name}"
    )
    return any(e.get("reason") == reason for e in found["items"])
