"""Admission webhooks served by the operator (kopf manages their configurations).

Invalid Workflows and Executions are refused with a message naming each
problem. These validating webhooks fail open (``failurePolicy: Ignore``): when
the operator is down, objects are still accepted, and the operator marks an
invalid one ``Ready=False`` and runs nothing — the same verdict, later.

The identity and permission webhooks fail closed and stay registered while the
operator is stopped: nobody recovers unaudited. They record the authenticated
user from the API server on RecoveryRequests (``headway.dev/requested-by``) and
on the recover annotation (``headway.dev/recover-requested-by``), on CREATE as
on UPDATE, and sign what they record (``core.identity``), so the operator can
tell a recorded identity from one a client wrote.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from headway.core import definers, identity
from headway.core.admission import (
    execution_verdict,
    request_verdict,
    schedule_verdict,
    workflow_verdict,
)
from headway.core.vocabulary import LABEL_EXECUTION
from headway.models.base import GROUP, VERSION
from headway.models.workflow import WorkflowSpec
from headway.shell import store
from headway.shell import webhook_secret as secret
from headway.shell.access import allowed, recoveryrequests_attributes
from headway.shell.kube import Kube, KubeError
from headway.shell.parse import annotations_of, workflow_spec
from headway.shell.webhook_files import ensure_audit_key, ensure_certificates

MANAGED_BY = "headway.dev"


@dataclass(frozen=True)
class InCluster:
    """Webhooks as the chart installs them: its Service, its configurations (named
    ``configuration``, validating and mutating), TLS and audit key in shared Secrets."""

    namespace: str
    service: str
    tls_secret: str
    audit_secret: str
    configuration: str
    cert_manager: bool = False
    bind: str = "0.0.0.0"


@dataclass(frozen=True)
class Webhooks:
    """Where the webhooks are served. Without ``in_cluster`` (local development) kopf
    keeps the configurations itself, pointing at ``host:port``, certificates in
    ``directory``."""

    port: int
    host: str = "127.0.0.1"
    directory: Path | None = None
    in_cluster: InCluster | None = None


@dataclass(frozen=True)
class Registered:
    audit_key: bytes
    # Puts the CA back into the chart's webhook configurations (an upgrade or a person
    # may have replaced them); None when nobody needs to (kopf's or cert-manager's job).
    keep_ca: Callable[[], None] | None = None


def register(kube: Kube, webhooks: Webhooks) -> Registered:
    """Load or make the certificate and the audit key, and have kopf serve the webhooks
    on ``webhooks.port``."""
    if webhooks.in_cluster is not None:
        return _register_in_cluster(kube, webhooks.port, webhooks.in_cluster)
    directory = webhooks.directory or Path(tempfile.mkdtemp(prefix="headway-webhook-"))
    host, port = webhooks.host, webhooks.port
    ca, cert, key = ensure_certificates(directory, host)
    audit_key = ensure_audit_key(directory)

    @kopf.on.startup()
    async def webhook_server(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = kopf.WebhookServer(
            addr=host, port=port, host=host, cafile=str(ca), certfile=str(cert), pkeyfile=str(key)
        )
        settings.admission.managed = MANAGED_BY

    return Registered(audit_key)


def _register_in_cluster(kube: Kube, port: int, cluster: InCluster) -> Registered:
    service = f"{cluster.service}.{cluster.namespace}"
    names = (f"{service}.svc", service, f"{service}.svc.cluster.local")
    keep_ca = None
    if cluster.cert_manager:
        tls = secret.read_tls(kube, cluster.namespace, cluster.tls_secret, wait_seconds=300)
    else:
        tls = secret.ensure_tls(kube, cluster.namespace, cluster.tls_secret, names)
        configurations = [
            ("validatingwebhookconfigurations", cluster.configuration),
            ("mutatingwebhookconfigurations", cluster.configuration),
        ]
        keep_ca = functools.partial(secret.inject_ca_bundle, kube, configurations, tls["ca.crt"])
        keep_ca()
    audit_key = secret.ensure_audit_key(kube, cluster.namespace, cluster.audit_secret)
    cert, key = secret.write_files(tls, Path(tempfile.mkdtemp(prefix="headway-webhook-")))

    @kopf.on.startup()
    async def webhook_server(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = kopf.WebhookServer(
            addr=cluster.bind, port=port, certfile=str(cert), pkeyfile=str(key)
        )
        settings.admission.managed = None  # the chart owns the configurations

    return Registered(audit_key, keep_ca)


def _refuse(kind: str, problems: list[str]) -> None:
    """Refuse with HTTP 422 and every problem named, if there are any."""
    if problems:
        raise kopf.AdmissionError(f"invalid {kind}: {'; '.join(problems)}", code=422)


@kopf.on.validate(
    GROUP,
    VERSION,
    "workflows",
    operations=["CREATE", "UPDATE"],
    ignore_failures=True,
    id="validate-workflow",
)
async def validate_workflow(body: kopf.Body, warnings: list[str], **_: Any) -> None:
    _refuse("Workflow", workflow_verdict(body.get("spec")))
    warnings.extend(_injections(body.get("spec")))


def _injections(definition: Any) -> list[str]:
    """Warnings (kubectl prints them) for values substituted into code (core.definers)."""
    parsed = workflow_spec({"spec": definition}) if definition is not None else None
    return definers.injection_warnings(parsed) if isinstance(parsed, WorkflowSpec) else []


@kopf.on.validate(
    GROUP,
    VERSION,
    "executions",
    operations=["CREATE"],
    ignore_failures=True,
    id="validate-execution",
)
async def validate_execution(
    body: kopf.Body, namespace: str | None, memo: kopf.Memo, warnings: list[str], **_: Any
) -> None:
    spec = body.get("spec")
    warnings.extend(_injections(definers.inline_workflow(spec)))
    referenced = None
    name = ((spec or {}).get("workflowRef") or {}).get("name") if isinstance(spec, dict) else None
    if isinstance(name, str) and name:
        try:
            found = await asyncio.to_thread(
                store.get_workflow, memo.operator.kube, namespace or "", name
            )
        except KubeError:
            found = None  # cannot look: the operator checks again when it starts the run
        parsed = workflow_spec(found)
        referenced = parsed if isinstance(parsed, WorkflowSpec) else None
    _refuse("Execution", execution_verdict(spec, referenced))


@kopf.on.validate(
    GROUP,
    VERSION,
    "recoveryrequests",
    operations=["CREATE"],
    ignore_failures=True,
    id="validate-request",
)
async def validate_request(body: kopf.Body, **_: Any) -> None:
    _refuse("RecoveryRequest", request_verdict(body.get("spec")))


@kopf.on.validate(
    GROUP, VERSION, "schedules", operations=["CREATE", "UPDATE"], id="validate-schedule",
    persistent=True,
)  # fmt: skip
async def validate_schedule(
    body: kopf.Body, userinfo: kopf.UserInfo, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """A Schedule is valid, and its author may create Executions where it runs them: the
    operator creates each run, so a Schedule must never let anyone run more than they
    may themselves (DESIGN.md section 11)."""
    _refuse("Schedule", schedule_verdict(body.get("spec")))
    attributes = {"namespace": namespace or "", "verb": "create", "group": GROUP,
                  "resource": "executions"}  # fmt: skip
    if not await _may(memo, attributes, userinfo):
        raise kopf.AdmissionError(
            f'user "{_user(userinfo)}" may not create schedules in namespace "{namespace}": '
            f"a Schedule creates Executions, which needs permission to create "
            f"executions.{GROUP} there",
            code=403,
        )


# --- identity and permission for recoveries -------------------------------------------------


def _set(patch: kopf.Patch, key: str, value: str | None) -> None:
    """Set (or, with None, remove) one annotation through the admission patch."""
    patch.setdefault("metadata", {}).setdefault("annotations", {})[key] = value


def _user(userinfo: Mapping[str, Any]) -> str:
    return str(userinfo.get("username", ""))


def _restore(
    patch: kopf.Patch, keys: Iterable[str], old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    """Put back, through the admission patch, any of the annotations ``keys`` a client
    changed: only the webhook records them."""
    before, after = annotations_of(old), annotations_of(new)
    for key in keys:
        if after.get(key) != before.get(key):
            _set(patch, key, before.get(key))


async def _may(memo: Any, attributes: Mapping[str, str], userinfo: Mapping[str, Any]) -> bool:
    """A SubjectAccessReview for the requesting user (name, uid, groups, extra)."""
    return await asyncio.to_thread(
        allowed,
        memo.operator.kube,
        attributes,
        _user(userinfo),
        userinfo.get("uid"),
        list(userinfo.get("groups") or []),
        dict(userinfo.get("extra") or {}),
    )


REQUEST_KEYS = (
    identity.ANNOTATION_REQUESTED_BY,
    identity.ANNOTATION_SUBMITTED,
    identity.ANNOTATION_SIGNATURE,
)


@kopf.on.mutate(
    GROUP,
    VERSION,
    "recoveryrequests",
    operations=["CREATE", "UPDATE"],
    id="record-requester",
    persistent=True,
)
async def record_requester(
    patch: kopf.Patch,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    memo: kopf.Memo,
    namespace: str | None,
    **kwargs: Any,
) -> None:
    """On create: the authenticated creator, a microsecond stamp (creation order), the
    ``headway.dev/execution`` label, and the signature over them; a client's own values
    are overwritten. On update: all of these are restored as they were."""
    if kwargs.get("operation") == "CREATE":
        recorded = {
            identity.ANNOTATION_REQUESTED_BY: _user(userinfo),
            identity.ANNOTATION_SUBMITTED: datetime.datetime.now(datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
        }
        name = identity.admitted_name(body["metadata"])
        fields = identity.request_fields(namespace or "", name, body.get("spec"), recorded)
        recorded[identity.ANNOTATION_SIGNATURE] = identity.signature(_key(memo), *fields)
        for key, value in recorded.items():
            _set(patch, key, value)
        execution = str(((body.get("spec") or {}).get("executionRef") or {}).get("name", ""))
        label = execution if 0 < len(execution) <= 63 else None
        patch.setdefault("metadata", {}).setdefault("labels", {})[LABEL_EXECUTION] = label
        return
    _restore(patch, REQUEST_KEYS, kwargs.get("old") or {}, body)


def _key(memo: Any) -> bytes:
    key: bytes | None = memo.operator.audit_key
    if key is None:
        raise kopf.AdmissionError("Headway's audit key is not loaded", code=500)
    return key


@kopf.on.mutate(
    GROUP, VERSION, "executions", operations=["UPDATE"], id="record-recoverer", persistent=True
)
async def record_recoverer(
    patch: kopf.Patch,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    memo: kopf.Memo,
    namespace: str | None,
    **kwargs: Any,
) -> None:
    """Who set the current recover value, signed; on any other change, kept as it was.

    Not on create (so creating Executions never depends on the operator running): a
    recover value present at create carries no signature, and the operator rejects it."""
    before, after = annotations_of(kwargs.get("old") or {}), annotations_of(body)
    if after.get(identity.ANNOTATION_RECOVER) != before.get(identity.ANNOTATION_RECOVER):
        recorded = {**after, identity.ANNOTATION_RECOVER_BY: _user(userinfo)}
        meta = body["metadata"]
        fields = identity.recover_fields(namespace or "", meta["name"], meta["uid"], recorded)
        _set(patch, identity.ANNOTATION_RECOVER_BY, _user(userinfo))
        _set(patch, identity.ANNOTATION_SIGNATURE, identity.signature(_key(memo), *fields))
        return
    _restore(patch, (identity.ANNOTATION_RECOVER_BY, identity.ANNOTATION_SIGNATURE),
             kwargs.get("old") or {}, body)  # fmt: skip


@kopf.on.validate(
    GROUP, VERSION, "executions", operations=["UPDATE"], id="recover-permission", persistent=True
)
async def check_recover_permission(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """Setting the recover annotation takes the permission to create RecoveryRequests."""
    old = annotations_of(kwargs.get("old") or {})
    if annotations_of(body).get(identity.ANNOTATION_RECOVER) == old.get(
        identity.ANNOTATION_RECOVER
    ):
        return
    if not await _may(memo, recoveryrequests_attributes(namespace or ""), userinfo):
        raise kopf.AdmissionError(
            f'user "{_user(userinfo)}" may not recover executions in namespace "{namespace}": '
            f"setting {identity.ANNOTATION_RECOVER} needs permission to create "
            f"recoveryrequests.{GROUP} there",
            code=403,
        )


# --- who may define what runs (DESIGN.md section 11) ----------------------------------------


async def _refusal_to_define(
    memo: Any, namespace: str, userinfo: Mapping[str, Any], definition: Any
) -> str | None:
    """Why this user may not define ``definition`` (a workflow spec), asked of the API
    server with SubjectAccessReviews; None when they may."""
    parsed = workflow_spec({"spec": definition})
    # A spec that does not parse names no account: creating Jobs is still asked (the
    # validating webhook and the operator refuse to run it anyway).
    needs = (
        definers.needs_of(parsed) if isinstance(parsed, WorkflowSpec) else [definers.CREATE_JOBS]
    )
    missing = []
    for need in needs:
        try:
            ok = await _may(memo, need.attributes(namespace), userinfo)
        except KubeError as error:
            raise kopf.AdmissionError(
                f"could not check who may define what runs: {error.message}", code=500
            ) from None
        if not ok:
            missing.append(need)
    return definers.refusal(_user(userinfo), namespace, missing)


async def _record_definer(
    kind: str,
    definition: Any,
    old_definition: Any,
    patch: kopf.Patch,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    memo: kopf.Memo,
    namespace: str | None,
    kwargs: Mapping[str, Any],
) -> None:
    """Defining what runs (on create, on any change of it, or when asked to check again
    with ``headway.dev/recheck``) takes the permissions ``core.definers`` names; the
    definer is then recorded and signed. Any other change keeps the record as it was."""
    creating = kwargs.get("operation") == "CREATE"
    before, after = annotations_of(kwargs.get("old") or {}), annotations_of(body)
    recheck = after.get(definers.ANNOTATION_RECHECK) != before.get(definers.ANNOTATION_RECHECK)
    step = definers.definer_step(creating, definition, old_definition, recheck)
    if step == "clear":
        for key in identity.DEFINER_KEYS:
            if key in after:
                _set(patch, key, None)
        return
    if step == "check":
        refused = await _refusal_to_define(memo, namespace or "", userinfo, definition)
        if refused:
            raise kopf.AdmissionError(refused, code=403)
        meta = body["metadata"]
        name = identity.admitted_name(meta) if creating else str(meta["name"])
        user = _user(userinfo)
        fields = identity.definition_fields(kind, namespace or "", name, definition, user)
        _set(patch, identity.ANNOTATION_DEFINED_BY, user)
        _set(patch, identity.ANNOTATION_DEFINER_SIGNATURE, identity.signature(_key(memo), *fields))
        return
    _restore(patch, identity.DEFINER_KEYS, kwargs.get("old") or {}, body)


@kopf.on.mutate(
    GROUP,
    VERSION,
    "workflows",
    operations=["CREATE", "UPDATE"],
    id="record-definer-workflow",
    persistent=True,
)
@kopf.on.mutate(
    GROUP,
    VERSION,
    "executions",
    operations=["CREATE", "UPDATE"],
    id="record-definer-execution",
    persistent=True,
)
async def record_definer(
    patch: kopf.Patch,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    memo: kopf.Memo,
    namespace: str | None,
    resource: kopf.Resource,
    **kwargs: Any,
) -> None:
    """What a Workflow defines is its spec; what an Execution defines, its inline
    workflow (none when it runs a named Workflow)."""
    old = (kwargs.get("old") or {}).get("spec")
    if resource.plural == "workflows":
        kind, definition = "Workflow", body.get("spec")
    else:
        kind, definition = "Execution", definers.inline_workflow(body.get("spec"))
        old = definers.inline_workflow(old)
    await _record_definer(kind, definition, old, patch, body, userinfo, memo, namespace, kwargs)
