"""Reading and writing Headway's objects and their Jobs. No decisions here."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from headway.core.plan import Action, CreateJob, DeleteJob, Emit
from headway.core.render import LABEL_EXECUTION_UID
from headway.models.base import API_VERSION, rfc3339
from headway.shell.kube import Kube, KubeError, path_of

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


def list_attempts(kube: Kube, namespace: str, uid: str) -> tuple[list[JSON], list[JSON]]:
    """The Execution's Jobs and their pods, read fresh from the API server (not a cache),
    so a Job created before a crash is always seen."""
    selector = f"{LABEL_EXECUTION_UID}={uid}"
    jobs = kube.get(path_of("batch/v1", "jobs", namespace), labelSelector=selector)["items"]
    pods = kube.get(path_of("v1", "pods", namespace), labelSelector=selector)["items"]
    owned = [
        j
        for j in jobs
        if any(r.get("uid") == uid for r in j["metadata"].get("ownerReferences") or [])
    ]
    return owned, pods


def patch_status(kube: Kube, path: str, resource_version: str, status: JSON) -> JSON:
    """Replace ``status`` only if the object is still at ``resource_version``."""
    body = {"metadata": {"resourceVersion": resource_version}, "status": status}
    try:
        return kube.patch(path + "/status", body)
    except KubeError as error:
        if error.status == 409:
            raise Conflict(str(error)) from error
        raise


def apply(kube: Kube, namespace: str, actions: list[Action]) -> None:
    """Carry out Job actions. Creating a Job that exists (409) means an earlier run created
    it: it is adopted, never created twice."""
    for action in actions:
        if isinstance(action, CreateJob):
            try:
                kube.create(path_of("batch/v1", "jobs", namespace), action.manifest)
            except KubeError as error:
                if error.status != 409:
                    raise
                log.info("job %s exists already: adopted", action.manifest["metadata"]["name"])
        elif isinstance(action, DeleteJob):
            kube.delete(
                path_of("batch/v1", "jobs", namespace, action.name),
                {"propagationPolicy": "Background"},
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


def list_requests(kube: Kube, namespace: str, execution: str) -> list[JSON]:
    """RecoveryRequests naming ``execution``, in creation order."""
    items = kube.get(path_of(API_VERSION, "recoveryrequests", namespace))["items"]
    mine = [
        r for r in items if (r.get("spec") or {}).get("executionRef", {}).get("name") == execution
    ]
    return sorted(mine, key=submitted_order)


ANNOTATION_SUBMITTED = "headway.dev/submitted-at"


def submitted_order(request: JSON) -> tuple[str, str]:
    """Creation order: the admission webhook's microsecond stamp, else creationTimestamp."""
    meta = request["metadata"]
    stamp = (meta.get("annotations") or {}).get(ANNOTATION_SUBMITTED) or meta.get(
        "creationTimestamp", ""
    )
    return stamp, meta["name"]


def patch_request_status(kube: Kube, namespace: str, name: str, status: JSON) -> None:
    try:
        kube.patch(
            path_of(API_VERSION, "recoveryrequests", namespace, name) + "/status",
            {"status": status},
        )
    except KubeError as error:
        if error.status != 404:  # deleted meanwhile: nothing to report to
            raise
