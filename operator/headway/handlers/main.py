"""The operator: kopf watches, our work queue reconciles.

kopf delivers watch events; the handlers here only route them to the queue
(no finalizers, no kopf state on our objects), so deleting an Execution never
waits for the operator. Reconciliation runs in worker threads with the
blocking client; one Execution is never reconciled twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf

from headway.core.render import LABEL_EXECUTION_UID
from headway.handlers import admission
from headway.handlers.queue import WorkQueue
from headway.handlers.reconcile import reconcile_execution, reconcile_workflow
from headway.handlers.recovery import route_request
from headway.models.base import GROUP, VERSION
from headway.shell.kube import Kube

Key = tuple[str, str]  # namespace, name
log = logging.getLogger("headway.operator")


class Operator:
    """State shared by the handlers: the client, the queue, and which uid is which key."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.queue: WorkQueue[Key] = WorkQueue(self.process)
        self.keys: dict[str, Key] = {}  # Execution uid -> key

    async def process(self, key: Key) -> Any:
        return await asyncio.to_thread(reconcile_execution, self.kube, *key)


class _Running:
    operator: Operator | None = None


def _operator() -> Operator:
    assert _Running.operator is not None, "the operator is not running"
    return _Running.operator


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING  # our own Events say what happened
    settings.watching.server_timeout = 300


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """Credentials from the same configuration as our client (kubeconfig or in-cluster)."""
    configuration = _operator().kube.api.configuration
    bearer = configuration.auth_settings().get("BearerToken") or {}
    authorization: str = bearer.get("value") or ""
    scheme, _sep, token = authorization.partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace="default",
    )


@kopf.on.event(GROUP, VERSION, "executions")
def on_execution(type: str, name: str, namespace: str | None, uid: str, **_: Any) -> None:
    operator, key = _operator(), (namespace or "", name)
    if type == "DELETED":
        operator.keys.pop(uid, None)
        operator.queue.forget(key)
        return
    operator.keys[uid] = key
    operator.queue.add(key)


def _poke_owner(labels: Mapping[str, str], namespace: str | None) -> None:
    operator = _operator()
    key = operator.keys.get(labels.get(LABEL_EXECUTION_UID, ""))
    if key is not None and key[0] == namespace:
        operator.queue.add(key)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
def on_job(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    _poke_owner(labels, namespace)


@kopf.on.event("", "v1", "pods", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
def on_pod(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    _poke_owner(labels, namespace)


@kopf.on.event(GROUP, VERSION, "workflows")
async def on_workflow(type: str, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    operator = _operator()
    if type != "DELETED":
        await asyncio.to_thread(reconcile_workflow, operator.kube, dict(body))
    for key in list(operator.keys.values()):  # executions waiting for this Workflow
        if key[0] == namespace:
            operator.queue.add(key)


@kopf.on.event(GROUP, VERSION, "recoveryrequests")
async def on_recovery_request(type: str, body: kopf.Body, **_: Any) -> None:
    if type == "DELETED":
        return
    operator = _operator()
    key = await asyncio.to_thread(route_request, operator.kube, dict(body))
    if key is not None:
        operator.queue.add(key)


async def _main(
    namespaces: list[str], webhook_port: int | None, webhook_host: str, webhook_dir: Path | None
) -> None:
    if webhook_port is not None:
        admission.register(webhook_port, webhook_host, webhook_dir)
    queue = asyncio.create_task(_operator().queue.run())
    try:
        await kopf.operator(clusterwide=not namespaces, namespaces=namespaces, standalone=True)
    finally:
        queue.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await queue


def run(
    namespaces: list[str],
    webhook_port: int | None,
    webhook_host: str,
    webhook_dir: Path | None = None,
    kubeconfig: str | None = None,
) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _Running.operator = Operator(Kube(kubeconfig))
    asyncio.run(_main(namespaces, webhook_port, webhook_host, webhook_dir))
    return 0


__all__ = ["Operator", "run"]
