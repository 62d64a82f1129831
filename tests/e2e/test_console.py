"""The web console in a real headless Chromium (Debian's, driven by Playwright), as the
test users, against the local cluster and the chart-installed operator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from headway.console.server import STATIC
from localcluster.chart_operator import ChartOperator
from support import (
    GATE_ENV,
    OUT,
    READER,
    RECOVERER,
    WF,
    Cluster,
    create,
    define,
    emit,
    execution,
    failing_run,
    gate,
    gated,
    grant,
    job_uids,
    run,
    start,
    wait_for,
    wait_phase,
    with_definer_webhook,
    without_definer_webhook,
)

pytestmark = pytest.mark.e2e
CHROMIUM = os.environ.get("HEADWAY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
JSON = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console, run with the admin kubeconfig only to know where the API server is."""
    if not (STATIC / "app.js").exists():
        pytest.fail("the console page is not built: run `make console`", pytrace=False)
    port = free_port()
    log = tmp_path_factory.mktemp("console") / "console.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "headway", "console", "--host", "127.0.0.1",
             "--port", str(port), "--kubeconfig", str(cluster.kubeconfig)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: _answers(url), "the console to answer", 30)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        print(f"console log: {log}")


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        yield launched
        launched.close()


def token_of(cluster: Cluster, user: str) -> str:
    config = yaml.safe_load(cluster.users[user].read_text())
    return str(config["users"][0]["user"]["token"])


def signed_in(browser: Browser, console: str, cluster: Cluster, user: str) -> Page:
    for context in browser.contexts:  # the pages of earlier tests: their streams end
        context.close()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(console)
    page.fill("#token", token_of(cluster, user))
    page.click("#signin button")
    expect(page.locator("#who")).to_have_text(f"signed in as {user}")
    return page


def node(page: Page, task: str) -> Any:
    return page.locator(f'#graph g.node[data-task="{task}"]')


def confirm(page: Page) -> None:
    page.click("#confirm-ok")


def loud_gate(task: str) -> JSON:
    """``gated(task)`` that also says in its log what it found."""
    gated_task = gated(task)
    gated_task["command"] = [
        "sh",
        "-c",
        f'echo "{task}: the gate is $GATE"; ' + gated_task["command"][2],
    ]
    return gated_task


def diamond() -> list[JSON]:
    return [
        {"name": "a", "command": emit("a")},
        loud_gate("b"),
        {"name": "c", "dependencies": ["a"], "command": emit("c")},
        {"name": "d", "dependencies": ["b", "c"],
         "command": ["sh", "-c", f'echo "{{\\"in\\": $HEADWAY_INPUTS}}" > {OUT}']},
    ]  # fmt: skip


def run_with_b_under_a(cluster: Cluster, namespace: str, name: str) -> None:
    tasks = diamond()
    tasks[1]["dependencies"] = ["a"]
    failing_run(cluster, namespace, name, tasks)


def opened(
    cluster: Cluster, namespace: str, console: str, browser: Browser, name: str, user: str
) -> Page:
    """``name`` failed at b (the diamond's b under a), and its page open as ``user``."""
    run_with_b_under_a(cluster, namespace, name)
    page = signed_in(browser, console, cluster, user)
    page.goto(f"{console}#/ns/{namespace}/x/{name}-1")
    return page


def test_alice_sees_the_failed_node_and_retries_it_live(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    grant(cluster, namespace, "alice", *RECOVERER)
    page = opened(cluster, namespace, console, browser, "dia", "alice")
    expect(node(page, "b")).to_have_attribute("data-phase", "Failed")
    fill = node(page, "b").locator("rect").evaluate("r => getComputedStyle(r).fill")
    assert fill == "rgb(249, 199, 194)", fill  # red
    node(page, "b").click()
    expect(page.locator("#attempts")).to_contain_text("dia-1-b-1")
    expect(page.locator("#task-logs")).to_have_text("b: the gate is closed\n")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-failed.png"))
    c_job = job_uids(cluster, namespace, "dia-1")["dia-1-c-1"]
    gate(cluster, namespace, "open")
    page.click("#retry-flow")
    expect(page.locator("#confirm-text")).to_contain_text("will also execute the remaining flow")
    expect(page.locator("#confirm-tasks")).to_have_text("Will rerun: b, d")
    confirm(page)
    expect(node(page, "d")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    expect(page.locator("#summary")).to_have_attribute("data-phase", "Succeeded")
    expect(page.locator("#request-outcome")).to_contain_text("Succeeded", timeout=60_000)
    page.screenshot(path=str(SHOTS / "console-recovered.png"))
    assert job_uids(cluster, namespace, "dia-1")["dia-1-c-1"] == c_job  # untouched
    requests = cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    assert [r["status"]["requestedBy"] for r in requests] == ["alice"]


def test_provide_outputs_is_checked_in_the_page_then_flows_on(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    grant(cluster, namespace, "alice", *RECOVERER)
    page = opened(cluster, namespace, console, browser, "out", "alice")
    node(page, "b").click()
    page.click("#provide-outputs")
    page.fill("#confirm-json", '{"from": ')
    confirm(page)
    expect(page.locator("#confirm-json-error")).to_contain_text("not valid JSON")
    page.fill("#confirm-json", "[1, 2]")
    confirm(page)
    expect(page.locator("#confirm-json-error")).to_contain_text("must be a JSON object")
    assert not cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    page.fill("#confirm-json", '{"from": "hand"}')
    confirm(page)
    expect(node(page, "d")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    done = wait_phase(cluster.kube, namespace, "out-1", "Succeeded")
    assert done["status"]["tasks"]["b"]["outputsSource"] == "Provided"
    assert done["status"]["tasks"]["d"]["outputs"]["in"]["b"] == {"from": "hand"}


@pytest.mark.parametrize("update_phase", [False, True])
def test_step_only_with_and_without_the_phase_checkbox(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser,
    update_phase: bool,
) -> None:  # fmt: skip
    run_with_b_under_a(cluster, namespace, "step")
    grant(cluster, namespace, "alice", *RECOVERER)
    gate(cluster, namespace, "open")
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/step-1")
    node(page, "b").click()
    page.click("#retry-step")
    expect(page.locator("#confirm-text")).to_contain_text("will only re-execute the selected step")
    if update_phase:
        page.check("#confirm-phase")
    confirm(page)
    expect(node(page, "b")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    [req] = cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    assert req["spec"]["mode"] == "Step"
    assert bool(req["spec"].get("updateExecutionPhase")) is update_phase
    path = f"/apis/{WF}/namespaces/{namespace}/recoveryrequests/{req['metadata']['name']}"
    wait_for(
        lambda: (cluster.kube.get(path).get("status") or {}).get("phase") == "Succeeded",
        "the Step to end",
    )
    status = execution(cluster.kube, namespace, "step-1")["status"]
    assert status["tasks"]["d"]["phase"] == "Pending"  # a Step starts nothing after it
    assert status["phase"] == ("Paused" if update_phase else "Failed")


def test_bob_sees_no_actions_and_a_crafted_post_is_refused(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    run_with_b_under_a(cluster, namespace, "ro")
    grant(cluster, namespace, "bob", *READER)
    page = signed_in(browser, console, cluster, "bob")
    page.goto(f"{console}#/ns/{namespace}/x/ro-1")
    expect(node(page, "b")).to_have_attribute("data-phase", "Failed")
    node(page, "b").click()
    expect(page.locator("#attempts")).to_contain_text("ro-1-b-1")
    assert page.locator("#recover-workflow, #task-actions button").count() == 0
    crafted = page.evaluate(
        """async (ns) => {
            const csrf = document.cookie.split('; ')
                .find(c => c.startsWith('headway_csrf=')).split('=')[1];
            const r = await fetch(`api/namespaces/${ns}/executions/ro-1/recover`, {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({mode: 'Flow'})});
            return [r.status, await r.json()];
        }""",
        namespace,
    )
    assert crafted[0] == 403 and "headway-recover" in crafted[1]["error"], crafted
    no_csrf = page.evaluate(
        """async (ns) => (await fetch(`api/namespaces/${ns}/executions/ro-1/recover`,
            {method: 'POST', body: '{"mode": "Flow"}'})).status""",
        namespace,
    )
    assert no_csrf == 403
    assert not cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    anonymous = browser.new_page()
    anonymous.goto(f"{console}#/ns/{namespace}/x/ro-1")
    expect(anonymous.locator("#signin")).to_be_visible()
    status = anonymous.evaluate(
        f"async () => (await fetch('api/namespaces/{namespace}/executions')).status"
    )
    assert status == 401


def test_html_in_a_task_message_or_output_is_shown_as_text(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    evil = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2><b>bold</b>"
    outputs = json.dumps({"html": evil}).replace('"', '\\"')
    tasks = [
        {"name": "a", "command": ["sh", "-c", f'echo "{outputs}" > {OUT}']},
        {"name": "b", "dependencies": ["a"],
         "command": ["sh", "-c", f"echo '{evil}' > {OUT}; exit 1"]},
    ]  # fmt: skip
    failing_run(cluster, namespace, "xss", tasks)
    grant(cluster, namespace, "alice", *RECOVERER)
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/xss-1")
    node(page, "a").click()
    expect(page.locator("#task-outputs")).to_contain_text("<script>window.pwned=1</script>")
    node(page, "b").click()
    expect(page.locator("#panel")).to_contain_text("<b>bold</b>")
    assert page.locator("#panel b").count() == 0 and page.locator("#panel img").count() == 0
    assert page.evaluate("() => window.pwned") is None


def test_the_list_the_recover_workflow_button_and_sign_out(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    run_with_b_under_a(cluster, namespace, "whole")
    grant(cluster, namespace, "alice", *RECOVERER)
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}")
    expect(page.locator("#executions")).to_contain_text("whole-1")
    page.select_option("#phase-filter", "Succeeded")
    expect(page.locator("#executions")).not_to_contain_text("whole-1")
    page.select_option("#phase-filter", "Failed")
    expect(page.locator("#executions")).to_contain_text("whole-1")
    page.click("text=whole-1")
    gate(cluster, namespace, "open")
    page.click("#recover-workflow")
    expect(page.locator("#confirm-tasks")).to_have_text("Will rerun: b, d")
    confirm(page)
    expect(page.locator("#summary")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    expect(page.locator("#history tr.audit")).to_contain_text("alice")
    page.click("#logout")
    expect(page.locator("#signin")).to_be_visible()
    status = page.evaluate(
        f"async () => (await fetch('api/namespaces/{namespace}/executions')).status"
    )
    assert status == 401


def test_a_run_that_may_not_start_says_why_on_its_page(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    """A Workflow nobody was checked as allowed to define (created while the definer
    webhook was away): its run's page says why nothing runs."""
    without_definer_webhook(cluster, namespace, operator.configuration)
    try:
        start(cluster, namespace, "unchecked", [{"name": "a", "command": emit("a")}])
    finally:
        operator.start()
    with_definer_webhook(cluster, namespace)
    grant(cluster, namespace, "alice", *RECOVERER)
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/unchecked-1")
    expect(page.locator("#not-ready")).to_contain_text(
        "Not started: DefinerNotChecked: nobody was checked as allowed to define "
        'Workflow "unchecked"'
    )


def test_the_cli_and_the_page_preview_a_held_task_exactly_as_the_engine_reruns_it(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    """A Step on b that succeeds holds c; "Recover workflow" then reruns the held c, and
    only it: what `kubectl headway recover` previews, what the page's dialog names, and
    what the engine does are one answer."""
    tasks = [
        {"name": "a", "command": emit("a")},
        gated("b"),
        {"name": "c", "dependencies": ["b"], "command": emit("c")},
    ]
    tasks[1]["dependencies"] = ["a"]
    failing_run(cluster, namespace, "held", tasks)
    grant(cluster, namespace, "alice", *RECOVERER)
    gate(cluster, namespace, "open")
    step = run(cluster, "alice", namespace, "recover", "held-1", "--step", "b", "--yes", "--wait")
    assert step.returncode == 0, step.stdout + step.stderr
    held = execution(cluster.kube, namespace, "held-1")["status"]["tasks"]["c"]
    assert (held["phase"], held.get("held")) == ("Pending", True)
    before = job_uids(cluster, namespace, "held-1")

    cli = run(cluster, "alice", namespace, "recover", "held-1")  # no --yes, no terminal
    assert "Flow on execution held-1: will rerun c\n" in cli.stdout, cli.stdout + cli.stderr
    assert job_uids(cluster, namespace, "held-1") == before  # not confirmed: nothing done

    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/held-1")
    page.click("#recover-workflow")
    expect(page.locator("#confirm-tasks")).to_have_text("Will rerun: c")
    expect(page.locator("#confirm-text")).to_contain_text("Recovering the workflow re-executes")
    confirm(page)
    expect(page.locator("#request-outcome")).to_contain_text("Succeeded", timeout=120_000)
    after = job_uids(cluster, namespace, "held-1")
    assert {k: v for k, v in after.items() if k in before} == before  # a and b untouched
    assert sorted(set(after) - set(before)) == ["held-1-c-1"]  # the engine reran c only


def test_a_map_node_shows_its_counts_and_an_item_is_retried_from_its_grid(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    """A map of 6 where items 1 and 4 fail: the node counts them, the grid colours them,
    item 4's panel offers its own recovery, and the confirmation names that item only."""
    grant(cluster, namespace, "alice", *RECOVERER)
    code = (
        'case "$ITEM" in 1|4) test "$GATE" = open || { echo "item $ITEM: gate $GATE"; exit 3; };; '
        f'esac; echo "{{\\"n\\": $ITEM}}" > {OUT}'
    )
    items_task: JSON = {
        "name": "each",
        "map": {"items": list(range(6))},
        "command": ["sh", "-c", code],
        "env": [
            {"name": "ITEM", "value": "{{ item }}"},
            GATE_ENV,
        ],
    }
    failing_run(cluster, namespace, "grid", [items_task])
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/grid-1")
    expect(node(page, "each")).to_contain_text("4/6 items · 2 failed")
    node(page, "each").click()
    expect(page.locator("#task-phase")).to_contain_text("items 6: 4 Succeeded, 2 Failed")
    expect(page.locator('#items [data-item="4"]')).to_have_attribute("data-phase", "Failed")
    expect(page.locator('#items [data-item="3"]')).to_have_attribute("data-phase", "Succeeded")
    page.click('#items [data-item="4"]')
    expect(page.locator("#item-phase")).to_contain_text("item 4: Failed · attempts 1")
    expect(page.locator("#attempts")).to_contain_text("grid-1-each-4-1")
    expect(page.locator("#task-logs")).to_have_text("item 4: gate closed\n")
    page.screenshot(path=str(SHOTS / "console-map.png"))
    gate(cluster, namespace, "open")
    page.click("#item-flow")
    expect(page.locator("#confirm-tasks")).to_have_text("Will rerun: each (items of each: 4)")
    confirm(page)
    expect(page.locator('#items [data-item="4"]')).to_have_attribute(
        "data-phase", "Succeeded", timeout=120_000
    )
    expect(page.locator('#items [data-item="1"]')).to_have_attribute("data-phase", "Failed")
    jobs = job_uids(cluster, namespace, "grid-1")
    assert sorted(jobs) == sorted([f"grid-1-each-{i}-1" for i in range(6)] + ["grid-1-each-4-2"])
    requests = cluster.kube.get(f"/apis/{WF}/namespaces/{namespace}/recoveryrequests")["items"]
    assert [r["spec"]["items"] for r in requests] == [[4]]


def test_skipped_nodes_say_why_finally_tasks_stand_apart_and_recovery_names_them(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    """work fails: alert (AnyFailed) runs, never (a false when) is Skipped, report runs in
    the finally cluster. The Recover workflow confirmation names the conditional tasks
    and the finally one; after it, alert is Skipped and report has run again."""
    grant(cluster, namespace, "alice", *RECOVERER)
    gate(cluster, namespace, "closed")
    spec: JSON = {
        "taskDefaults": {"image": "python:3.12-slim"},
        "tasks": [
            gated("work"),
            {"name": "never", "dependencies": ["work"], "when": "false", "trigger": "AllDone",
             "command": emit("never")},
            {"name": "alert", "dependencies": ["work"], "trigger": "AnyFailed",
             "command": emit("alert")},
        ],
        "finally": [{"name": "report", "command": emit("report")}],
    }  # fmt: skip
    define(cluster, namespace, "cond", spec)
    wait_phase(cluster.kube, namespace, "cond-1", "Failed")
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/cond-1")
    expect(node(page, "never")).to_have_attribute("data-phase", "Skipped")
    expect(node(page, "never")).to_contain_text("Skipped · condition false")
    expect(node(page, "alert")).to_have_attribute("data-phase", "Succeeded")
    expect(page.locator("#graph g.cluster")).to_contain_text("finally")
    expect(page.locator('#graph g.node.final[data-task="report"]')).to_be_visible()
    node(page, "never").click()
    expect(page.locator("#task-condition")).to_have_text("trigger AllDone · when false")
    page.screenshot(path=str(SHOTS / "console-conditions.png"))
    gate(cluster, namespace, "open")
    page.click("#recover-workflow")
    expect(page.locator("#confirm-tasks")).to_have_text(
        "Will rerun: work, never, alert, report; by their conditions, may run or be Skipped: "
        "never, alert; finally tasks run again: report"
    )
    confirm(page)
    expect(page.locator("#summary")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    expect(node(page, "alert")).to_have_attribute("data-phase", "Skipped")
    report = execution(cluster.kube, namespace, "cond-1")["status"]["tasks"]["report"]
    assert report["attempts"] == 2 and report["phase"] == "Succeeded"


def test_stop_suspend_and_resume_buttons_for_those_who_may_and_none_for_a_reader(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    grant(cluster, namespace, "alice", "headway-view", "headway-run", "headway-recover")
    grant(cluster, namespace, "bob", *READER)
    gate(cluster, namespace, "closed")
    code = f'test "$GATE" = open || sleep 600; echo {{}} > {OUT}'
    slow = {"name": "slow", "command": ["sh", "-c", code], "env": [GATE_ENV]}
    define(cluster, namespace, "halt", {"tasks": [slow]})
    wait_phase(cluster.kube, namespace, "halt-1", "Running")
    reader = signed_in(browser, console, cluster, "bob")
    reader.goto(f"{console}#/ns/{namespace}/x/halt-1")
    expect(node(reader, "slow")).to_have_attribute("data-phase", "Running")
    expect(reader.locator("#hold-stop")).to_have_count(0)
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}/x/halt-1")
    expect(page.locator("#hold-suspend")).to_be_visible()
    page.click("#hold-stop")
    expect(page.locator("#confirm-text")).to_contain_text("Every running and pending Job")
    confirm(page)
    expect(page.locator("#summary")).to_have_attribute("data-phase", "Stopped", timeout=120_000)
    expect(node(page, "slow")).to_have_attribute("data-phase", "Stopped")
    expect(page.locator("#recover-workflow")).to_have_count(0)  # not while stopping
    page.click("#hold-resume")
    expect(page.locator("#confirm-text")).to_contain_text("stays Stopped until it is recovered")
    confirm(page)
    gate(cluster, namespace, "open")
    expect(page.locator("#recover-workflow")).to_be_visible(timeout=60_000)
    page.click("#recover-workflow")
    confirm(page)
    expect(page.locator("#summary")).to_have_attribute("data-phase", "Succeeded", timeout=120_000)


def test_the_schedules_page_lists_each_schedule_with_its_runs(
    cluster: Cluster, operator: ChartOperator, namespace: str, console: str, browser: Browser
) -> None:
    grant(cluster, namespace, "alice", "headway-view", "headway-run")
    spec: JSON = {"taskDefaults": {"image": "python:3.12-slim"},
                  "tasks": [{"name": "t", "command": emit("t")}]}  # fmt: skip
    create(cluster.kube, namespace, {"apiVersion": WF, "kind": "Workflow",
                                     "metadata": {"name": "daily"}, "spec": spec})  # fmt: skip
    create(cluster.as_user("alice"), namespace, {
        "apiVersion": WF, "kind": "Schedule", "metadata": {"name": "daily"},
        "spec": {"schedule": "0 6 * * *", "timeZone": "Europe/Paris", "suspend": True,
                 "execution": {"workflowRef": {"name": "daily"}}},
    })  # fmt: skip
    backfill = run(cluster, "alice", namespace, "backfill", "daily", "--from", "2026-12-01",
                   "--to", "2026-12-02T23:00")  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    wait_phase(cluster.kube, namespace, "daily-20261201-0500", "Succeeded")
    page = signed_in(browser, console, cluster, "alice")
    page.goto(f"{console}#/ns/{namespace}")
    page.click("#to-schedules")
    section = page.locator('section.schedule[data-schedule="daily"]')
    expect(section).to_contain_text("0 6 * * * (Europe/Paris)")
    expect(section).to_contain_text("suspended")
    expect(section).to_contain_text("daily-20261202-0500")
    expect(section.locator("tr", has_text="daily-20261201-0500")).to_contain_text(
        "Succeeded", timeout=60_000
    )
    section.locator("a", has_text="daily-20261201-0500").click()
    expect(page.locator("h2")).to_have_text("daily-20261201-0500")
