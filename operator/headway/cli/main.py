"""``kubectl headway``: see an Execution as a tree, read its progress path and logs,
recover it in one command, submit a run. Every call is made as the person running it
(their kubeconfig), so RBAC and ``requestedBy`` are theirs.

Exit codes: 0 done; 1 the recovery was rejected or failed, or the run did not succeed;
2 bad usage or input; 3 not found; 4 forbidden; 5 the cluster cannot be reached.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kubeconfig
from pydantic import ValidationError
from rich.console import Console

from headway.cli import render
from headway.core import items, schedules
from headway.core.preview import preview
from headway.core.recovery import Order, graph_of
from headway.core.vocabulary import EXECUTION_FINISHED, REQUEST_FINISHED
from headway.models.base import API_VERSION, validation_message
from headway.models.execution import ExecutionStatus
from headway.models.schedule import ScheduleSpec
from headway.shell import store
from headway.shell.access import recovery_refused
from headway.shell.kube import Kube, KubeError, path_of

JSON = dict[str, Any]
OK, FAILED, USAGE, NOT_FOUND, FORBIDDEN, UNREACHABLE = 0, 1, 2, 3, 4, 5


class CliError(Exception):
    """A user-facing error: its message names the object and what to do."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- the connection ------------------------------------------------------------------------


class Session:
    """The person's kubeconfig, context and namespace, and what they ask about."""

    def __init__(self, args: argparse.Namespace, out: Console) -> None:
        self.out = out
        self.all_namespaces = bool(getattr(args, "all_namespaces", False))
        try:
            self.kube = Kube(args.kubeconfig, args.context)
        except Exception as error:  # the client's config errors have many types
            raise CliError(f"cannot load the kubeconfig: {error}") from None
        self.namespace = args.namespace or _context_namespace(args.kubeconfig, args.context)

    def call(self, what: str, action: Callable[[], Any]) -> Any:
        """Run one API call; a failure becomes a message naming ``what``."""
        try:
            return action()
        except KubeError as error:
            raise _explain(error, what, self.namespace) from None

    def execution(self, name: str) -> JSON:
        found = self.call(
            f'execution "{name}"',
            lambda: self.kube.find(path_of(API_VERSION, "executions", self.namespace, name)),
        )
        if found is None:
            raise CliError(
                f'execution "{name}" not found in namespace "{self.namespace}" '
                "(kubectl headway list shows what there is)",
                NOT_FOUND,
            )
        return dict(found)


def _context_namespace(path: str | None, context: str | None) -> str:
    try:
        contexts, active = kubeconfig.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except Exception:  # in-cluster, or no kubeconfig: the default namespace
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def _explain(error: KubeError, what: str, namespace: str) -> CliError:
    message = error.message or error.body
    if error.status == 0:
        return CliError(f"cannot reach the Kubernetes API server: {message}", UNREACHABLE)
    if error.status == 401:
        return CliError(f"{what}: not authenticated ({message}): check your kubeconfig", FORBIDDEN)
    if error.status == 403:
        return CliError(f"{what}: {message}", FORBIDDEN)
    if error.status == 404:
        return CliError(f"{what} not found in namespace {namespace!r}", NOT_FOUND)
    return CliError(f"{what}: {message}", FAILED if error.status >= 500 else USAGE)


# --- list, get, history, logs --------------------------------------------------------------


def cmd_list(session: Session, args: argparse.Namespace) -> int:
    path = path_of(API_VERSION, "executions", None if session.all_namespaces else session.namespace)
    items = session.call("listing executions", lambda: session.kube.get(path))["items"]
    if args.phase:
        wanted = {p.lower() for p in args.phase}
        items = [
            e
            for e in items
            if ((e.get("status") or {}).get("phase") or "Pending").lower() in wanted
        ]
    items.sort(key=lambda e: (e["metadata"].get("namespace", ""), e["metadata"]["name"]))
    if not items:
        where = "any namespace" if session.all_namespaces else f'namespace "{session.namespace}"'
        session.out.print(f"No executions in {where}.")
        return OK
    session.out.print(render.executions_table(items, utcnow(), session.all_namespaces))
    return OK


def cmd_get(session: Session, args: argparse.Namespace) -> int:
    execution = session.execution(args.execution)
    if args.output in ("json", "yaml"):
        text = (
            json.dumps(execution, indent=2) if args.output == "json" else yaml.safe_dump(execution)
        )
        session.out.out(text, highlight=False)
        return OK
    wide = args.output == "wide"
    if args.items:
        execution = store.with_pages(session.kube, execution)
        tasks = (execution.get("status") or {}).get("tasks") or {}
        maps = [name for name, state in tasks.items() if state.get("map")]
        if not maps:
            raise CliError(f'execution "{args.execution}" has no map task with items yet')
        for name in maps:
            session.out.print(render.items_table(execution, name))
        return OK
    if not args.watch:
        session.out.print(render.execution_view(execution, utcnow(), wide))
        return OK
    return watch_execution(session, execution, wide)


def watch_execution(session: Session, execution: JSON, wide: bool) -> int:
    """A frame now and one on every change, from a watch; ends when the run has ended."""
    name, version = execution["metadata"]["name"], execution["metadata"]["resourceVersion"]
    session.out.print(render.execution_view(execution, utcnow(), wide))
    collection = path_of(API_VERSION, "executions", session.namespace)
    while (execution.get("status") or {}).get("phase") not in EXECUTION_FINISHED:
        events = session.call(
            f'watching execution "{name}"',
            functools.partial(_watch_until_change, session.kube, collection, name, version),
        )
        for event in events:
            if event.get("type") == "DELETED":
                raise CliError(f'execution "{name}" was deleted', NOT_FOUND)
            execution = event["object"]
            version = execution["metadata"]["resourceVersion"]
            session.out.rule(f"{name} at {render.stamp(utcnow())}")
            session.out.print(render.execution_view(execution, utcnow(), wide))
    return OK if execution["status"].get("phase") == "Succeeded" else FAILED


def _watch_until_change(kube: Kube, collection: str, name: str, version: str) -> list[JSON]:
    """The next change to one object (an empty list when the watch timed out)."""
    for event in kube.watch(
        collection,
        timeout_seconds=60,
        fieldSelector=f"metadata.name={name}",
        resourceVersion=version,
    ):
        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
            return [event]
    return []


def cmd_history(session: Session, args: argparse.Namespace) -> int:
    session.out.print(render.history_table(session.execution(args.execution)))
    return OK


def cmd_logs(session: Session, args: argparse.Namespace) -> int:
    execution = session.execution(args.execution)
    status = execution.get("status") or {}
    tasks = status.get("tasks") or {}
    if args.task and args.task not in tasks:
        known = ", ".join(tasks) or "none yet"
        raise CliError(f'execution "{args.execution}" has no task "{args.task}" (tasks: {known})')
    graph = graph_of(render.status_of(execution))
    in_order = [t for t in graph.order if t in tasks] if graph else list(tasks)
    chosen = [args.task] if args.task else in_order if args.all else []
    if not chosen:
        raise CliError("name a TASK, or pass --all for every task's latest attempt")
    uid = execution["metadata"]["uid"]
    if args.item is not None and (not args.task or args.all):
        raise CliError("--item goes with the map TASK it belongs to")
    for task in chosen:
        attempt = args.attempt or _latest_attempt(args, render.status_of(execution), task)
        if attempt < 1:
            session.out.print(f"[dim]{task}: no attempt yet[/]")
            continue
        retention = (execution.get("spec") or {}).get("jobRetention")
        pod = _pod_of(session, uid, task, attempt, args.item, retention)
        prefix = f"[{task}] " if args.all else ""
        log = path_of("v1", "pods", session.namespace, pod) + "/log"
        if args.follow:
            lines = session.call(
                f"logs of {task}", functools.partial(session.kube.stream_text, log, follow="true")
            )
            for line in _lines(lines):
                print(f"{prefix}{line}", flush=True)
        else:
            text = session.call(f"logs of {task}", functools.partial(session.kube.get_text, log))
            for line in text.splitlines():
                print(f"{prefix}{line}")
    return OK


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    """Whole lines from a stream of text chunks (a chunk may end mid-line)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending


def _latest_attempt(args: argparse.Namespace, status: ExecutionStatus, task: str) -> int:
    """The task's latest attempt, or (``--item N``) its item's."""
    state = status.tasks[task]
    if args.item is None:
        return state.attempts
    if state.map is None:
        raise CliError(f'task "{task}" has no items (it is not a map, or has not expanded yet)')
    if not 0 <= args.item < state.map.count:
        raise CliError(f'task "{task}" has {state.map.count} items: no item {args.item}')
    return items.item_state(state.map, args.item).attempts


def _pod_of(
    session: Session,
    uid: str,
    task: str,
    attempt: int,
    item: int | None = None,
    retention: str | None = None,
) -> str:
    selector = (
        f"headway.dev/execution-uid={uid},headway.dev/task={task},headway.dev/attempt={attempt}"
    )
    if item is not None:
        selector += f",headway.dev/item={item}"
    path = path_of("v1", "pods", session.namespace)
    pods = session.call("listing pods", lambda: session.kube.get(path, labelSelector=selector))[
        "items"
    ]
    if not pods:
        where = items.label(task, item)
        why = (
            " (jobRetention: Failed deletes the Jobs of succeeded attempts once their outputs "
            "are recorded: the logs went with them; the outputs are in the status)"
            if retention == "Failed"
            else ": its Job was deleted, or it never started (with jobRetention: Failed, "
            "the Jobs of succeeded attempts go once recorded, and their logs with them)"
        )
        raise CliError(f"task {where} attempt {attempt} has no pod any more{why}", NOT_FOUND)
    newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return str(newest["metadata"]["name"])


# --- recover and submit --------------------------------------------------------------------


def cmd_recover(session: Session, args: argparse.Namespace) -> int:
    order, outputs = _order(args)
    execution = session.execution(args.execution)
    stopping = bool((execution.get("spec") or {}).get("stop"))
    planned = preview(render.status_of(execution), order, stopping=stopping)
    if planned.problem:
        raise CliError(f'cannot recover execution "{args.execution}": {planned.problem}', FAILED)
    verb = "resolve" if order.mode == "ProvideOutputs" else "rerun"
    session.out.print(
        f"{order.mode} on execution {args.execution}: will {verb} {', '.join(planned.reruns)}"
    )
    for task, chosen in planned.items.items():
        shown = ", ".join(map(str, chosen)) or "none (the map is expanded again)"
        session.out.print(f"  items of {task} to {verb}: {shown}")
    if planned.conditional:
        session.out.print(
            f"  may run or be Skipped, by their conditions: {', '.join(planned.conditional)}"
        )
    if planned.final:
        session.out.print(f"  finally tasks run again after: {', '.join(planned.final)}")
    session.out.print(planned.warning, style="yellow")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("not confirmed: pass --yes to recover without a prompt")
        if input("Proceed? [y/N] ").strip().lower() not in ("y", "yes"):
            session.out.print("Nothing done.")
            return FAILED
    body: JSON = {
        "apiVersion": API_VERSION,
        "kind": "RecoveryRequest",
        "metadata": {"name": f"{args.execution[:40]}-{order.mode.lower()}-{secrets.token_hex(3)}"},
        "spec": {"executionRef": {"name": args.execution}, "mode": order.mode},
    }
    if order.task:
        body["spec"]["task"] = order.task
    if order.items is not None:
        body["spec"]["items"] = list(order.items)
    if outputs is not None:
        body["spec"]["outputs"] = outputs
    if order.update_execution_phase:
        body["spec"]["updateExecutionPhase"] = True
    collection = path_of(API_VERSION, "recoveryrequests", session.namespace)
    created = _create_request(session, collection, body)
    name = created["metadata"]["name"]
    session.out.print(f"recoveryrequest/{name} created")
    if not args.wait:
        return OK
    return wait_request(session, f"{collection}/{name}", args.timeout)


def _create_request(session: Session, collection: str, body: JSON) -> JSON:
    try:
        return dict(session.kube.create(collection, body))
    except KubeError as error:
        refused = recovery_refused(error, session.namespace)
        if refused:
            raise CliError(refused, FORBIDDEN) from None
        raise _explain(error, "creating the recoveryrequest", session.namespace) from None


def wait_request(session: Session, path: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    phase = None
    while time.monotonic() < deadline:
        request = session.call("reading the recoveryrequest", lambda: session.kube.get(path))
        status = request.get("status") or {}
        if status.get("phase") != phase:
            phase = status.get("phase")
            session.out.print(f"  {phase}: {status.get('message', '')}")
        if phase in REQUEST_FINISHED:
            if phase == "Succeeded":
                return OK
            outcome = "was rejected" if phase == "Rejected" else "failed"
            raise CliError(f"the recovery {outcome}: {status.get('message', '')}", FAILED)
        time.sleep(1)
    raise CliError(f"the recovery did not end within {timeout:.0f}s (still {phase})", FAILED)


def _order(args: argparse.Namespace) -> tuple[Order, JSON | None]:
    chosen = _items(args.items)
    if args.provide_outputs:
        task, raw = args.provide_outputs
        outputs = _outputs(raw)  # read once: the preview shows exactly what is sent
        return Order("ProvideOutputs", task=task, outputs=outputs, items=chosen), outputs
    if args.step:
        order = Order("Step", task=args.step, update_execution_phase=args.update_phase,
                      items=chosen)  # fmt: skip
        return order, None
    if args.update_phase:
        raise CliError("--update-phase goes with --step")
    if chosen is not None and not args.task:
        raise CliError("--items goes with the map task they belong to: --task, --step or "
                       "--provide-outputs")  # fmt: skip
    return Order("Flow", task=args.task, items=chosen), None


def _items(raw: str | None) -> tuple[int, ...] | None:
    """``3,7`` as item numbers; a clear error for anything else."""
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise CliError(f"--items takes item numbers separated by commas, like 3,7 (not {raw!r})")
    return tuple(int(p) for p in parts)


def _outputs(raw: str) -> JSON:
    text = raw
    if raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text()
        except OSError as error:
            raise CliError(f"cannot read outputs file {raw[1:]}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"outputs are not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(value, dict):
        raise CliError("outputs must be a JSON object, like '{\"rows\": 42}'")
    return value


# --- stop, suspend, resume ------------------------------------------------------------------

HOLDS: dict[str, tuple[JSON, str]] = {
    "stop": ({"stop": True}, "stopping: every running Job is deleted, the finally tasks run"),
    "suspend": ({"suspend": True}, "suspended: nothing new starts; running Jobs finish"),
    "resume": ({"suspend": False, "stop": False}, "resumed"),
}


def cmd_hold(session: Session, args: argparse.Namespace) -> int:
    """``stop``, ``suspend`` and ``resume``: a merge patch of the Execution's spec, as the
    person (a refusal names the permission they lack)."""
    patch, said = HOLDS[args.command]
    path = path_of(API_VERSION, "executions", session.namespace, args.execution)
    try:
        changed = session.kube.patch(path, {"spec": patch})
    except KubeError as error:
        if error.status == 403:
            raise CliError(
                f'you may not {args.command} execution "{args.execution}": it takes '
                f'permission to patch executions.headway.dev in namespace "{session.namespace}" '
                "(the headway-run role grants it)",
                FORBIDDEN,
            ) from None
        raise _explain(error, f'execution "{args.execution}"', session.namespace) from None
    session.out.print(f"execution {args.execution}: {said}")
    status = changed.get("status") or {}
    if args.command == "resume" and status.get("stoppedAt"):
        session.out.print(
            f"it was stopped: it stays Stopped until recovered (kubectl headway recover "
            f"{args.execution})",
            style="yellow",
        )
    return OK


# --- schedules and backfill ----------------------------------------------------------------

BACKFILL_LIMIT = 1_000  # runs one backfill may create


def cmd_schedules(session: Session, args: argparse.Namespace) -> int:
    path = path_of(API_VERSION, "schedules", session.namespace)
    found = session.call("listing schedules", lambda: session.kube.get(path))["items"]
    if not found:
        session.out.print(f'No schedules in namespace "{session.namespace}".')
        return OK
    executions = session.call(
        "listing executions",
        lambda: session.kube.get(path_of(API_VERSION, "executions", session.namespace)),
    )["items"]
    session.out.print(render.schedules_table(found, executions, utcnow()))
    return OK


def _moment(text: str, spec: ScheduleSpec, what: str) -> datetime.datetime:
    """A --from/--to value: ISO 8601; without an offset, in the schedule's time zone."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{what} {text!r} is not a date or time (e.g. 2026-12-01T02:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=schedules.zone(spec.time_zone))
    return moment


def cmd_backfill(session: Session, args: argparse.Namespace) -> int:
    """Create the runs a Schedule would have made in a past window, as you, each with the
    name the scheduler gives it: a run that exists is left alone."""
    path = path_of(API_VERSION, "schedules", session.namespace, args.schedule)
    obj = session.call(f'schedule "{args.schedule}"', lambda: session.kube.get(path))
    try:
        spec = ScheduleSpec.model_validate(obj.get("spec") or {})
        start, end = _moment(args.start, spec, "--from"), _moment(args.end, spec, "--to")
        if end < start:
            raise CliError("--to is before --from")
        found = schedules.times(
            spec, start - datetime.timedelta(microseconds=1), end, BACKFILL_LIMIT + 1
        )
    except (ValidationError, schedules.ScheduleError) as error:
        raise CliError(f'schedule "{args.schedule}" cannot be read: {error}', FAILED) from None
    if len(found) > BACKFILL_LIMIT:
        raise CliError(f"the window holds more than {BACKFILL_LIMIT} runs: narrow it")
    if not found:
        session.out.print("No scheduled time in that window.")
        return OK
    made = skipped = 0
    for moment in found:
        manifest = schedules.run_manifest(args.schedule, session.namespace, spec, moment)
        name = manifest["metadata"]["name"]
        if args.dry_run:
            session.out.print(f"would create {name} ({moment.isoformat()})")
            continue
        try:
            session.kube.create(path_of(API_VERSION, "executions", session.namespace), manifest)
            made += 1
            session.out.print(f"created {name} ({moment.isoformat()})")
        except KubeError as error:
            if error.status != 409:
                raise _explain(error, f"creating execution {name}", session.namespace) from None
            skipped += 1
            session.out.print(f"exists  {name}: left as it is", style="dim")
    if not args.dry_run:
        session.out.print(f"{made} created, {skipped} already there")
    return OK


def cmd_submit(session: Session, args: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-p takes NAME=VALUE, got {item!r}")
        params[key] = value
    workflow_path = path_of(API_VERSION, "workflows", session.namespace, args.workflow)
    found = session.call(f'workflow "{args.workflow}"', lambda: session.kube.find(workflow_path))
    if found is None:
        raise CliError(
            f'workflow "{args.workflow}" not found in namespace "{session.namespace}"', NOT_FOUND
        )
    metadata: JSON = (
        {"name": args.name} if args.name else {"generateName": f"{args.workflow[:50]}-"}
    )
    body = {
        "apiVersion": API_VERSION,
        "kind": "Execution",
        "metadata": metadata,
        "spec": {"workflowRef": {"name": args.workflow}, "params": params},
    }
    collection = path_of(API_VERSION, "executions", session.namespace)
    created = session.call("creating the execution", lambda: session.kube.create(collection, body))
    session.out.print(f"execution/{created['metadata']['name']} created")
    if args.watch:
        return watch_execution(session, created, wide=False)
    return OK


# --- the command line ----------------------------------------------------------------------

EXAMPLES = {
    "list": "kubectl headway list\n  kubectl headway list -A --phase Failed",
    "get": "kubectl headway get etl-2026-11-21\n  kubectl headway get etl-2026-11-21 -o wide\n"
    "  kubectl headway get etl-2026-11-21 --watch\n  kubectl headway get files-1 --items",
    "history": "kubectl headway history etl-2026-11-21",
    "logs": "kubectl headway logs etl-2026-11-21 transform\n"
    "  kubectl headway logs etl-2026-11-21 transform --attempt 1\n"
    "  kubectl headway logs etl-2026-11-21 --all\n"
    "  kubectl headway logs files-1 process --item 7",
    "recover": "kubectl headway recover etl-1              # Flow: every Failed/Blocked task\n"
    "  kubectl headway recover etl-1 --task transform  # Flow from transform\n"
    "  kubectl headway recover etl-1 --step transform --update-phase\n"
    "  kubectl headway recover etl-1 --provide-outputs transform '{\"n\": 1}' --yes --wait\n"
    "  kubectl headway recover etl-1 --provide-outputs transform @outputs.json\n"
    "  kubectl headway recover files-1 --task process --items 3,7  # those items, then on",
    "submit": "kubectl headway submit etl -p date=2026-11-21 --watch",
    "stop": "kubectl headway stop etl-1     # then, to run it again: resume, recover",
    "suspend": "kubectl headway suspend etl-1",
    "resume": "kubectl headway resume etl-1",
    "schedules": "kubectl headway schedules -n reports",
    "backfill": "kubectl headway backfill nightly --from 2026-12-01 --to 2026-12-03T23:59",
}


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="the namespace (default: the context's)")
    common.add_argument(
        "--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    common.add_argument("--context", help="the kubeconfig context to use")
    top = argparse.ArgumentParser(
        prog="kubectl headway",
        description="See Headway executions and recover them without redoing finished work.",
        epilog="Exit codes: 0 done, 1 rejected/failed, 2 usage, 3 not found, 4 forbidden, "
        "5 cluster unreachable.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=f"examples:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    listing = command("list", "list executions: phase, progress, started, duration, age")
    listing.add_argument("-A", "--all-namespaces", action="store_true")
    listing.add_argument("--phase", action="append", help="only this phase (repeatable)")
    get = command("get", "an execution: its header and its tasks as a tree in DAG order")
    get.add_argument("execution")
    get.add_argument("-o", "--output", choices=["tree", "wide", "json", "yaml"], default="tree")
    get.add_argument(
        "-w", "--watch", action="store_true", help="a new frame on every change, until it ends"
    )
    get.add_argument("--items", action="store_true", help="list every item of each map task")
    history = command("history", "the progress path: every step the execution took, who and when")
    history.add_argument("execution")
    logs = command("logs", "a task's logs (its latest attempt)")
    logs.add_argument("execution")
    logs.add_argument("task", nargs="?")
    logs.add_argument("--attempt", type=int, help="this attempt instead of the latest")
    logs.add_argument("--item", type=int, help="this item of a map task")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--all", action="store_true", help="every task, lines prefixed with its name")
    recover = command("recover", "recover an execution (a RecoveryRequest, as you)")
    recover.add_argument("execution")
    what = recover.add_mutually_exclusive_group()
    what.add_argument("--task", help="Flow from this task (default: every Failed/Blocked task)")
    what.add_argument("--step", metavar="TASK", help="rerun this task only")
    what.add_argument("--provide-outputs", nargs=2, metavar=("TASK", "JSON"),
                      help="take JSON (or @file.json) as TASK's outputs")  # fmt: skip
    recover.add_argument(
        "--update-phase", action="store_true", help="with --step: update the execution's phase"
    )
    recover.add_argument("--items", help="items of the map task named, like 3,7")
    recover.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    recover.add_argument("--wait", action="store_true", help="follow the request to its end")
    recover.add_argument("--timeout", type=float, default=600, help="seconds --wait waits")
    for name, text in (
        ("stop", "stop an execution now: delete its running Jobs, run its finally tasks"),
        ("suspend", "suspend an execution: start nothing new, let running Jobs finish"),
        ("resume", "resume a suspended execution (or clear a stop, to recover it)"),
    ):
        command(name, text).add_argument("execution")
    command("schedules", "list schedules: next and last runs, active runs, recent ones")
    backfill = command("backfill", "create the runs a schedule would have made in a past window")
    backfill.add_argument("schedule")
    backfill.add_argument("--from", dest="start", required=True,
                          help="ISO 8601; with no offset: in the schedule's zone")  # fmt: skip
    backfill.add_argument("--to", dest="end", required=True, help="the same (inclusive)")
    backfill.add_argument("--dry-run", action="store_true", help="say what would be created")
    submit = command("submit", "start an execution of a workflow")
    submit.add_argument("workflow")
    submit.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument("--name", help="the execution's name (default: generated)")
    submit.add_argument("-w", "--watch", action="store_true")
    return top


COMMANDS: dict[str, Callable[[Session, argparse.Namespace], int]] = {
    "list": cmd_list,
    "get": cmd_get,
    "history": cmd_history,
    "logs": cmd_logs,
    "recover": cmd_recover,
    "submit": cmd_submit,
    "stop": cmd_hold,
    "suspend": cmd_hold,
    "resume": cmd_hold,
    "schedules": cmd_schedules,
    "backfill": cmd_backfill,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out, err = Console(), Console(stderr=True)
    try:
        return COMMANDS[args.command](Session(args, out), args)
    except CliError as error:
        err.print(f"error: {error}", style="red", highlight=False)
        return error.code
    except ValidationError as error:  # a status this version of Headway cannot read
        err.print(
            f"error: the execution's status cannot be read by this version of kubectl "
            f"headway: {validation_message(error)}",
            style="red",
            highlight=False,
        )
        return FAILED
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The ``kubectl-headway`` executable (kubectl finds it on PATH as a plugin)."""
    sys.exit(main())
