"""The operator: kopf watches, our work queue reconciles.

kopf delivers watch events; the handlers here only route them to the queue
(no finalizers, no kopf state on our objects), so deleting an Execution never
waits for the operator. Every handler is ``async``: the queue lives on the event
loop and is only ever touched from it. Reconciliation runs in worker threads
with the blocking client; one Execution is never reconciled twice at once.
Shared state reaches handlers through kopf's ``memo``, never module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf

from headway.core.render import LABEL_EXECUTION_UID
from headway.handlers import admission
from headway.handlers.queue import WorkQueue
from headway.handlers.reconcile import reconcile_execution, reconcile_workflow, route_request
from headway.models.base import GROUP, VERSION
from headway.shell.kube import Kube
from headway.shell.webhook_files import read_audit_key

Key = tuple[str, str]  # namespace, name
log = logging.getLogger("headway.operator")


@dataclass
class Operator:
    """State shared by the handlers: the client, the queue, which uid is which key, the
    key that proves recorded identities."""

    kube: Kube
    audit_key: bytes | None = None
    keys: dict[str, Key] = field(default_factory=dict)  # Execution uid -> key
    queue: WorkQueue[Key] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.process)

    async def process(self, key: Key) -> Any:
        return await asyncio.to_thread(reconcile_execution, self.kube, *key, self.audit_key)


def of(memo: Any) -> Operator:
    operator: Operator = memo.operator
    return operator


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING  # our own Events say what happened
    settings.watching.server_timeout = 300


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """Credentials from the same configuration as our client (kubeconfig or in-cluster)."""
    configuration = of(memo).kube.api.configuration
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
async def on_execution(
    type: str, name: str, namespace: str | None, uid: str, memo: kopf.Memo, **_: Any
) -> None:
    operator, key = of(memo), (namespace or "", name)
    if type == "DELETED":
        operator.keys.pop(uid, None)
        operator.queue.forget(key)
        return
    operator.keys[uid] = key
    operator.queue.add(key)


def _poke_owner(operator: Operator, labels: Mapping[str, str], namespace: str | None) -> None:
    key = operator.keys.get(labels.get(LABEL_EXECUTION_UID, ""))
    if key is not None and key[0] == namespace:
        operator.queue.add(key)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def on_job(
    labels: Mapping[str, str], namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    _poke_owner(of(memo), labels, namespace)


@kopf.on.event("", "v1", "pods", labels={LABEL_EXECUTION_UID: kopf.PRESENT})
async def on_pod(
    labels: Mapping[str, str], namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    _poke_owner(of(memo), labels, namespace)


@kopf.on.event(GROUP, VERSION, "workflows")
async def on_workflow(
    type: str, body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    operator = of(memo)
    if type != "DELETED":
        await asyncio.to_thread(reconcile_workflow, operator.kube, dict(body))
    for key in list(operator.keys.values()):  # executions waiting for this Workflow
        if key[0] == namespace:
            operator.queue.add(key)


@kopf.on.event(GROUP, VERSION, "recoveryrequests")
async def on_recovery_request(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        return
    operator = of(memo)
    key = await asyncio.to_thread(route_request, operator.kube, dict(body))
    if key is not None:
        operator.queue.add(key)


async def _main(operator: Operator, namespaces: list[str]) -> None:
    queue = asyncio.create_task(operator.queue.run())
    try:
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            memo=kopf.Memo(operator=operator),
        )
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
    operator = Operator(Kube(kubeconfig))
    if webhook_port is not None:
        directory = admission.register(webhook_port, webhook_host, webhook_dir)
        operator.audit_key = read_audit_key(directory)
    asyncio.run(_main(operator, namespaces))
    return 0


__all__ = ["Operator", "run"]
