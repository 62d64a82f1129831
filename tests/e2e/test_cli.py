"""``kubectl headway`` as people run it: the real executable (and once through kubectl's
plugin lookup), as the test users, against the local cluster."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from localcluster.chart_operator import ChartOperator
from support import (
    CLI,
    GATE_ENV,
    OUT,
    READER,
    RECOVERER,
    WF,
    Cluster,
    emit,
    execution,
    failing_run,
    gate,
    gated,
    grant,
    job_uids,
    run,
    start,
    wait_phase,
)

pytestmark = pytest.mark.e2e


def diamond() -> list[dict[str, object]]:
    return [
        {"name": "a", "command": emit("a")},
        {"name": "b", "dependencies": ["a"], "command": emit("b")},
        {"name": "c", "dependencies": ["a"], "command": emit("c")},
        {"name": "d", "dependencies": ["b", "c"], "command": emit("d")},
    ]


def test_get_shows_the_tree_with_the_join_and_json_round_trips(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    start(cluster, namespace, "dia", diamond())
    wait_phase(cluster.kube, namespace, "dia-1", "Succeeded")
    done = run(cluster, None, namespace, "get", "dia-1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    tree = {line.strip("│├└─ ").split()[0]: line for line in lines if "attempts" in line}
    assert sorted(tree) == ["a", "b", "c", "d"]
    assert "join of b, c" in tree["d"]
    assert lines.index(tree["d"]) == lines.index(tree["b"]) + 1  # under its first parent
    for line in tree.values():
        assert "✔ Succeeded" in line and "attempts 1" in line
    assert "Progress" in done.stdout and "4/4" in done.stdout
    as_json = run(cluster, None, namespace, "get", "dia-1", "-o", "json")
    assert json.loads(as_json.stdout) == execution(cluster.kube, namespace, "dia-1")
    listed = run(cluster, None, namespace, "list")
    assert "dia-1" in listed.stdout and "4/4" in listed.stdout
    plugin = subprocess.run(
        [cluster.kubectl, "headway", "list", "-n", namespace],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
             "PATH": f"{CLI.parent}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert plugin.returncode == 0 and "dia-1" in plugin.stdout, plugin.stderr


def test_get_watch_prints_a_new_frame_when_a_task_changes(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    slow = [{"name": "a", "command": ["sh", "-c", f'sleep 3; echo "{{}}" > {OUT}']}]
    start(cluster, namespace, "slow", slow)
    done = run(cluster, None, namespace, "get", "slow-1", "--watch", timeout=180)
    assert done.returncode == 0, done.stderr
    frames = done.stdout.count("execution slow-1")
    assert frames >= 2, done.stdout
    last = done.stdout.rsplit("execution slow-1", 1)[1]
    assert "✔ Succeeded" in last


def test_recover_by_alice_step_task_and_outputs_bob_refused(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    tasks = [gated("a"), {"name": "b", "dependencies": ["a"], "command": emit("b")}]
    failing_run(cluster, namespace, "cli", tasks)
    grant(cluster, namespace, "alice", *RECOVERER)
    grant(cluster, namespace, "bob", *READER)
    before = job_uids(cluster, namespace, "cli-1")

    refused = run(cluster, "bob", namespace, "recover", "cli-1", "--yes")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert (
        f'you may not create recoveryrequests in namespace "{namespace}": '
        "ask for the headway-recover role"
    ) in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stderr
    assert job_uids(cluster, namespace, "cli-1") == before
    assert not cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]

    bad = run(cluster, "alice", namespace, "recover", "cli-1", "--provide-outputs", "a", "{x")
    assert bad.returncode == 2 and "outputs are not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr

    # Step on a (still failing: the gate is closed), without updating the phase.
    step = run(cluster, "alice", namespace, "recover", "cli-1", "--step", "a", "--yes", "--wait")
    assert "will rerun a" in step.stdout and "only re-execute the selected step" in step.stdout
    assert step.returncode == 1 and "failed" in step.stderr, step.stdout + step.stderr
    status = execution(cluster.kube, namespace, "cli-1")["status"]
    assert status["tasks"]["a"]["attempts"] == 2 and status["tasks"]["b"]["phase"] == "Pending"

    # Provide a's outputs by hand: b runs with them.
    given = run(cluster, "alice", namespace, "recover", "cli-1",
                "--provide-outputs", "a", '{"from": "hand"}', "--yes", "--wait")  # fmt: skip
    assert given.returncode == 0, given.stdout + given.stderr
    done = wait_phase(cluster.kube, namespace, "cli-1", "Succeeded")
    assert done["status"]["tasks"]["a"]["outputsSource"] == "Provided"
    assert done["status"]["tasks"]["b"]["phase"] == "Succeeded"

    # Flow from a (the gate open now): a and b run again.
    gate(cluster, namespace, "open")
    flow = run(cluster, "alice", namespace, "recover", "cli-1", "--task", "a", "--yes", "--wait")
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "will rerun a, b" in flow.stdout and "execute the remaining flow" in flow.stdout
    done = wait_phase(cluster.kube, namespace, "cli-1", "Succeeded")
    assert done["status"]["tasks"]["a"]["outputs"] == {"from": "a"}
    assert sorted(job_uids(cluster, namespace, "cli-1")) == [
        "cli-1-a-1", "cli-1-a-2", "cli-1-a-3", "cli-1-b-1", "cli-1-b-2",
    ]  # fmt: skip
    requests = cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    assert {r["status"]["requestedBy"] for r in requests} == {"alice"}
    assert len(requests) == 3

    history = run(cluster, "alice", namespace, "history", "cli-1")
    assert history.returncode == 0, history.stderr
    recoveries = [line for line in history.stdout.splitlines() if "alice" in line]
    assert any("StepRetriggered" in line for line in recoveries)
    assert any("OutputsProvided" in line for line in recoveries)
    assert any("Retriggered" in line and "Step" not in line for line in recoveries)

    logs = run(cluster, "alice", namespace, "logs", "cli-1", "a")
    assert logs.returncode == 0, logs.stderr
    first = run(cluster, "alice", namespace, "logs", "cli-1", "a", "--attempt", "1")
    assert first.returncode == 0, first.stderr


def test_submit_and_user_errors_name_the_problem(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    hello = ["sh", "-c", f"echo hello-from-a; echo '{{}}' > {OUT}"]
    start(cluster, namespace, "sub", [{"name": "a", "command": hello}])
    wait_phase(cluster.kube, namespace, "sub-1", "Succeeded")
    submitted = run(cluster, None, namespace, "submit", "sub", "--name", "sub-2", "--watch")
    assert submitted.returncode == 0, submitted.stderr
    assert "execution/sub-2 created" in submitted.stdout
    logs = run(cluster, None, namespace, "logs", "sub-2", "a")
    assert "hello-from-a" in logs.stdout
    missing = run(cluster, None, namespace, "get", "nope")
    assert missing.returncode == 3
    assert f'execution "nope" not found in namespace "{namespace}"' in missing.stderr
    unknown = run(cluster, None, namespace, "logs", "sub-2", "zzz")
    assert unknown.returncode == 2 and 'has no task "zzz" (tasks: a)' in unknown.stderr
    nothing = run(cluster, None, namespace, "recover", "sub-2", "--yes")
    assert nothing.returncode == 1
    assert "no Failed, Blocked, Stopped or held task to recover" in nothing.stderr
    helped = subprocess.run(
        [str(CLI), "recover", "--help"], capture_output=True, text=True, check=False
    )
    assert "examples:" in helped.stdout and "--provide-outputs" in helped.stdout


def test_a_map_in_the_cli_counts_lists_logs_and_recovers_items(
    cluster: Cluster, operator: ChartOperator, namespace: str
) -> None:
    grant(cluster, namespace, "alice", *RECOVERER)
    code = (
        'case "$ITEM" in 2|3) test "$GATE" = open || { echo "item $ITEM says no"; exit 3; };; '
        f'esac; echo "{{\\"n\\": $ITEM}}" > {OUT}'
    )
    each = {
        "name": "each",
        "map": {"items": [0, 1, 2, 3, 4]},
        "command": ["sh", "-c", code],
        "env": [
            {"name": "ITEM", "value": "{{ item }}"},
            GATE_ENV,
        ],
    }
    failing_run(cluster, namespace, "many", [each])
    shown = run(cluster, "alice", namespace, "get", "many-1")
    assert shown.returncode == 0, shown.stderr
    assert "items 5: 3 Succeeded, 2 Failed" in shown.stdout
    listed = run(cluster, "alice", namespace, "get", "many-1", "--items")
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[2]) for r in rows] == [
        ("0", "Succeeded"), ("1", "Succeeded"), ("2", "Failed"), ("3", "Failed"),
        ("4", "Succeeded"),
    ]  # fmt: skip
    logs = run(cluster, "alice", namespace, "logs", "many-1", "each", "--item", "3")
    assert logs.stdout == "item 3 says no\n", logs.stderr
    missing = run(cluster, "alice", namespace, "logs", "many-1", "each", "--item", "9")
    assert missing.returncode != 0 and "5 items: no item 9" in missing.stderr
    bad = run(cluster, "alice", namespace, "recover", "many-1", "--task", "each", "--items", "x")
    assert bad.returncode != 0 and "item numbers separated by commas" in bad.stderr
    gate(cluster, namespace, "open")
    before = job_uids(cluster, namespace, "many-1")
    done = run(cluster, "alice", namespace, "recover", "many-1", "--task", "each",
               "--items", "3", "--yes", "--wait")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "items of each to rerun: 3" in done.stdout
    after = job_uids(cluster, namespace, "many-1")
    assert set(after) - set(before) == {"many-1-each-3-2"}
    status = execution(cluster.kube, namespace, "many-1")["status"]
    assert status["tasks"]["each"]["map"]["phases"] == "SSFSS"  # item 2 was not named
