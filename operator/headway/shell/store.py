"""Reading and writing Headway's objects and their Jobs. No decisions here."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from headway.core import items, pages
from headway.core.actions import CreateJob, DeleteJob, Emit
from headway.core.facts import AttemptRead, is_attempt
from headway.core.identity import ANNOTATION_SUBMITTED
from headway.core.pages import PageWrite
from headway.core.plan import Launches
from headway.core.render import LABEL_EXECUTION_UID
from headway.core.scan import changed_keys
from headway.models.base import API_VERSION, rfc3339
from headway.models.crd import PLURALS
from headway.shell.kube import JSON_PATCH, Kube, KubeError, path_of

JSON = dict[str, Any]
log = logging.getLogger("headway.shell")


class Conflict(Exception):
    """The object changed since it was read: read again and re-plan."""


def executions_path(namespace: str, name: str | None = None) -> str:
    return path_of(API_VERSION, "executions", namespace, name)


def get_execution(kube: Kube, namespace: str, name: str) -> JSON | None:
    return kube.find(executions_path(namespace, name))


def get_workflow(kube: Kube, namespace: str, name: str) -> JSON | None:
    return kube.find(path_of(API_VERSION, "workflows", namespace, name))


def replace_status(kube: Kube, obj: JSON, status: JSON) -> JSON:
    """Write ``status`` whole, only if ``obj`` is still at the resourceVersion read.

    A replace (PUT of the status subresource), never a merge patch: a field the
    core cleared is absent from ``status`` and so cleared in the API server too."""
    meta = obj["metadata"]
    body = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "resourceVersion": meta["resourceVersion"],
        },
        "status": status,
    }
    return _conditional(lambda: kube.replace(_status_path(obj), body))


def merge_diff(old: JSON, new: JSON) -> JSON:
    """The JSON merge patch that turns ``old`` into exactly ``new``: changed values, and an
    explicit null for every key ``new`` no longer has (a merge patch keeps absent keys).
    Values shared by both (the same object) are skipped without a look inside."""
    gone = () if old.keys() <= new.keys() else old.keys() - new.keys()  # C, no sets built
    patch: JSON = dict.fromkeys(gone)
    for key in changed_keys(new, old) if len(new) > SCAN_FROM else new:
        value, before = new[key], old.get(key, _MISSING)
        if before is value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            inner = merge_diff(before, value)
            if inner:
                patch[key] = inner
        elif before != value:
            patch[key] = value
    return patch


_MISSING = object()
SCAN_FROM = 16  # keys: from here on the unchanged ones are skipped by a scan in C


def write_status(kube: Kube, obj: JSON, old: JSON, new: JSON) -> JSON | None:
    """Make the status exactly ``new``, only if ``obj`` is still at the resourceVersion
    read (``old`` is its status as read): the difference is sent as a merge patch with
    explicit nulls and that resourceVersion as a precondition, so a write costs what
    changed while the result is the whole status computed. None when nothing changed."""
    patch = merge_diff(old, new)
    if not patch:
        return None
    body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
    return _conditional(lambda: kube.patch(_status_path(obj), body))


def _status_path(obj: JSON) -> str:
    meta = obj["metadata"]
    base = path_of(str(obj.get("apiVersion")), _plural(obj), meta.get("namespace"), meta["name"])
    return base + "/status"


def _conditional(write: Callable[[], JSON]) -> JSON:
    """Run a write conditioned on a resourceVersion; a 409 becomes ``Conflict``."""
    try:
        return write()
    except KubeError as error:
        if error.status == 409:
            raise Conflict(str(error)) from error
        raise


def _plural(obj: JSON) -> str:
    return PLURALS[str(obj.get("kind"))]


def _transient(error: KubeError) -> bool:
    """Worth trying again: no answer, throttled, or a server-side failure."""
    return error.status in {0, 429} or error.status >= 500


def create_jobs(
    kube: Kube, namespace: str, owner_uid: str, creates: list[CreateJob]
) -> tuple[Launches, list[JSON]]:
    """Create the Jobs; report each as created (or adopted), refused, or deferred, and
    return the Jobs as the API server holds them.

    A 409 means a Job of that name exists: adopted only when it is exactly this
    attempt (owner, task, attempt, idempotency key), else refused with a message."""
    bodies: list[JSON] = []
    created: set[str] = set()
    refused: dict[str, str] = {}
    deferred: dict[str, str] = {}
    collection = path_of("batch/v1", "jobs", namespace)
    for action in creates:
        try:
            bodies.append(kube.create(collection, action.manifest))
            created.add(action.name)
        except KubeError as error:
            if error.status == 409:
                existing = kube.find(path_of("batch/v1", "jobs", namespace, action.name))
                if existing is not None and is_attempt(existing, action.manifest, owner_uid):
                    log.info("job %s exists already: adopted", action.name)
                    created.add(action.name)
                    bodies.append(existing)
                elif existing is None:
                    deferred[action.name] = "a Job of that name is being deleted"
                else:
                    refused[action.name] = (
                        f"a Job named {action.name} already exists and is not attempt "
                        f"{action.attempt} of task {action.task} of this execution"
                    )
            elif _transient(error):
                deferred[action.name] = error.message
            else:
                refused[action.name] = error.message
    return Launches(refused, deferred, frozenset(created)), bodies


def read_attempt(kube: Kube, namespace: str, name: str) -> AttemptRead:
    """Read one attempt directly, bypassing the caches: its Job, its pods (a consistent
    LIST), its Job again, in that order (see ``facts.confirm_attempt``)."""
    job_path = path_of("batch/v1", "jobs", namespace, name)
    before = kube.find(job_path)
    pods = kube.get(
        path_of("v1", "pods", namespace), labelSelector=f"batch.kubernetes.io/job-name={name}"
    )
    after = kube.find(job_path)
    version = str((pods.get("metadata") or {}).get("resourceVersion", "?"))
    return AttemptRead(name, before, pods.get("items") or [], version, after)


def delete_jobs(kube: Kube, namespace: str, deletes: list[DeleteJob]) -> None:
    for action in deletes:
        kube.delete(
            path_of("batch/v1", "jobs", namespace, action.name),
            {"propagationPolicy": action.propagation},
        )


def emit(kube: Kube, owner: JSON, events: list[Emit], now: datetime.datetime) -> None:
    """Post Kubernetes Events on ``owner``; losing one is logged, never fatal."""
    meta = owner["metadata"]
    for event in events:
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": owner.get("apiVersion", API_VERSION),
                "kind": owner.get("kind", "Execution"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": "headway"},
            "reportingComponent": "headway.dev/operator",
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
        }
        try:
            kube.create(path_of("v1", "events", meta["namespace"]), body)
        except KubeError as error:
            log.warning("could not post event %s on %s: %s", event.reason, meta["name"], error)


def submitted_order(request: JSON) -> tuple[str, str]:
    """Creation order: the admission webhook's microsecond stamp, else creationTimestamp."""
    meta = request["metadata"]
    stamp = (meta.get("annotations") or {}).get(ANNOTATION_SUBMITTED) or meta.get(
        "creationTimestamp", ""
    )
    return stamp, meta["name"]


def replace_request_status(kube: Kube, obj: JSON, status: JSON) -> None:
    """Write a RecoveryRequest's status whole; a request deleted meanwhile is skipped."""
    try:
        replace_status(kube, obj, status)
    except KubeError as error:
        if error.status != 404:
            raise


def nothing_to_watch(kube: Kube, namespaces: list[str], label: str) -> bool:
    """True when no object the operator watches exists (each kind listed with limit=1):
    then empty caches are the initial state, with no event to show they are filled."""
    kinds = [
        (API_VERSION, "workflows", None),
        (API_VERSION, "executions", None),
        (API_VERSION, "recoveryrequests", None),
        ("batch/v1", "jobs", label),
        ("v1", "pods", label),
    ]
    for namespace in namespaces or [""]:
        for api_version, plural, selector in kinds:
            query: dict[str, Any] = {"limit": 1}
            if selector:
                query["labelSelector"] = selector
            if kube.get(path_of(api_version, plural, namespace), **query).get("items"):
                return False
    return True


def list_all(kube: Kube) -> tuple[list[JSON], list[JSON]]:
    """Every Workflow and every RecoveryRequest, in all namespaces."""
    workflows = kube.get(path_of(API_VERSION, "workflows"))["items"]
    requests = kube.get(path_of(API_VERSION, "recoveryrequests"))["items"]
    return list(workflows), list(requests)


def write_pages(kube: Kube, namespace: str, writes: list[PageWrite]) -> None:
    """Create each OutputPage, or replace its spec whole (a JSON patch: an item's outputs
    taken away are gone, as a merge patch would not make them)."""
    collection = path_of(API_VERSION, "outputpages", namespace)
    for write in writes:
        try:
            kube.create(collection, write.manifest)
        except KubeError as error:
            if error.status != 409:
                raise
            patch = [{"op": "replace", "path": "/spec", "value": write.manifest["spec"]}]
            kube.patch(f"{collection}/{write.name}", patch, JSON_PATCH)


def read_pages(kube: Kube, namespace: str, uid: str) -> list[JSON]:
    """An Execution's OutputPages, read directly (a page the cache has not seen yet)."""
    found = kube.get(
        path_of(API_VERSION, "outputpages", namespace),
        labelSelector=f"{LABEL_EXECUTION_UID}={uid}",
    )
    return list(found.get("items") or [])


def with_pages(kube: Kube, execution: JSON) -> JSON:
    """``execution`` with the pages of item outputs kept in OutputPages put back into its
    status, as far as the caller may read them and they are as the status records them
    (to show; the operator reads them back itself)."""
    tasks = (execution.get("status") or {}).get("tasks") or {}
    stored = {n: s["map"]["stored"] for n, s in tasks.items() if (s.get("map") or {}).get("stored")}
    if not stored:
        return execution
    meta = execution["metadata"]
    try:
        found = pages.read(read_pages(kube, meta["namespace"], meta["uid"]))
    except KubeError as error:
        log.debug("pages of %s not read: %s", meta["name"], error)
        return execution
    tasks = dict(tasks)
    for name, digests in stored.items():
        state = tasks[name] = {**tasks[name], "map": dict(tasks[name]["map"])}
        outputs = state["map"]["outputs"] = dict(state["map"].get("outputs") or {})
        for page, digest in digests.items():
            hit = items.as_written(found, name, page, digest)
            if hit is not None:
                outputs[page] = hit
    return {**execution, "status": {**execution["status"], "tasks": tasks}}


def delete_execution(kube: Kube, namespace: str, name: str, uid: str) -> None:
    """Delete the Execution (this one: the uid must match); its Jobs, pods and
    OutputPages follow it, by their owner references."""
    kube.delete(
        executions_path(namespace, name),
        {"propagationPolicy": "Background", "preconditions": {"uid": uid}},
    )


def create_execution(kube: Kube, namespace: str, manifest: JSON) -> JSON:
    return kube.create(executions_path(namespace), manifest)


def stop_execution(kube: Kube, namespace: str, name: str) -> None:
    """``spec.stop`` on a run a Schedule replaces (it stays, to be recovered)."""
    try:
        kube.patch(executions_path(namespace, name), {"spec": {"stop": True}})
    except KubeError as error:
        if error.status != 404:
            raise


def delete_run(kube: Kube, namespace: str, name: str) -> None:
    """A run past its Schedule's history limit."""
    kube.delete(executions_path(namespace, name), {"propagationPolicy": "Background"})
