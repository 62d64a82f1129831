"""Admission webhooks served by the operator (kopf manages their configurations).

Invalid Workflows and Executions are refused with a message naming each
problem. The validating webhooks fail open (``failurePolicy: Ignore``): when
the operator is down, objects are still accepted, and the operator marks an
invalid one ``Ready=False`` and runs nothing — the same verdict, later.

Certificates: by default the operator makes a CA and a serving certificate for
``--webhook-host`` (kept in ``--webhook-cert-dir``) and puts the CA in the
webhook configurations. In a real cluster, mount a certificate from your own
issuer (e.g. cert-manager) as ``tls.crt``/``tls.key``/``ca.crt`` in that
directory and the operator uses it as is.
"""

from __future__ import annotations

import datetime
import ipaddress
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

from headway import certs
from headway.core.spec import resolve_params, workflow_problems
from headway.handlers.reconcile import validation_message
from headway.handlers.recovery import (
    ANNOTATION_RECOVER,
    ANNOTATION_RECOVER_BY,
    ANNOTATION_REQUESTED_BY,
)
from headway.models.base import GROUP, VERSION
from headway.models.execution import ExecutionSpec
from headway.models.workflow import WorkflowSpec
from headway.shell.kube import KubeError, path_of
from headway.shell.store import ANNOTATION_SUBMITTED

MANAGED_BY = "headway.dev"


def ensure_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.crt, tls.crt, tls.key) in ``directory``: made once, kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "tls.crt",
        directory / "tls.key",
    )
    if not (ca_path.exists() and cert_path.exists() and key_path.exists()):
        now = datetime.datetime.now(datetime.UTC)
        ca = certs.new_ca("headway-webhook-ca", now)
        try:
            ipaddress.ip_address(host)
            leaf = certs.issue(ca, host, now, server=True, ip_addresses=(host,))
        except ValueError:
            leaf = certs.issue(ca, host, now, server=True, dns_names=(host,))
        ca_path.write_bytes(ca.cert_pem)
        cert_path.write_bytes(leaf.cert_pem)
        key_path.write_bytes(leaf.key_pem)
        key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def register(port: int, host: str, directory: Path | None) -> None:
    """Serve the webhooks on ``port``; the API server reaches them at ``host``."""
    ca, cert, key = ensure_certificates(
        directory or Path(tempfile.mkdtemp(prefix="headway-webhook-")), host
    )

    @kopf.on.startup()
    def webhook_server(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = kopf.WebhookServer(
            addr=host, port=port, host=host, cafile=str(ca), certfile=str(cert), pkeyfile=str(key)
        )
        settings.admission.managed = MANAGED_BY


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], spec: kopf.Spec, kind: str) -> M:
    try:
        return model.model_validate(dict(spec))
    except ValidationError as error:
        raise kopf.AdmissionError(
            f"invalid {kind}: {validation_message(error)}", code=422
        ) from None


def _refuse(kind: str, problems: list[str]) -> None:
    """Refuse with HTTP 422 and every problem named, if there are any."""
    if problems:
        raise kopf.AdmissionError(f"invalid {kind}: {'; '.join(problems)}", code=422)


@kopf.on.validate(
    GROUP, VERSION, "workflows", operations=["CREATE", "UPDATE"], ignore_failures=True
)
def validate_workflow(spec: kopf.Spec, **_: Any) -> None:
    _refuse("Workflow", workflow_problems(_parse(WorkflowSpec, spec, "Workflow")))


@kopf.on.validate(GROUP, VERSION, "executions", operations=["CREATE"], ignore_failures=True)
def validate_execution(spec: kopf.Spec, namespace: str | None, **_: Any) -> None:
    parsed = _parse(ExecutionSpec, spec, "Execution")
    workflow = parsed.workflow
    if workflow is None and parsed.workflow_ref is not None:
        # A missing Workflow is not refused: it may be created next (kubectl apply -f dir/).
        from headway.handlers.main import _operator

        try:
            found = _operator().kube.find(
                path_of(f"{GROUP}/{VERSION}", "workflows", namespace, parsed.workflow_ref.name)
            )
        except KubeError:
            return
        if found is None:
            return
        try:
            workflow = WorkflowSpec.model_validate(found.get("spec") or {})
        except ValidationError:
            return  # the Workflow itself is invalid: its own status says why
    if workflow is None:
        return
    problems = workflow_problems(workflow) if parsed.workflow else []
    _refuse("Execution", problems + resolve_params(workflow, parsed.params)[1])


# --- identity and permission for recoveries -------------------------------------------------
# These fail closed (failurePolicy: Fail) and are persistent (kept registered when the operator
# stops): without the operator, nobody recovers, and nobody recovers unaudited.


def _annotations(obj: Any) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def _set_annotation(patch: kopf.Patch, body: kopf.Body, key: str, value: str | None) -> None:
    current = _annotations(body)
    if current.get(key) == value:
        return
    annotations = (
        {**current, key: value}
        if value is not None
        else {k: v for k, v in current.items() if k != key}
    )
    patch.setdefault("metadata", {})["annotations"] = annotations


@kopf.on.mutate(
    GROUP,
    VERSION,
    "recoveryrequests",
    operations=["CREATE", "UPDATE"],
    id="record-requester",
    persistent=True,
)
def record_requester(
    patch: kopf.Patch, body: kopf.Body, userinfo: kopf.UserInfo, **kwargs: Any
) -> None:
    """``headway.dev/requested-by``: the authenticated creator, from the API server; a client's
    own value is overwritten on create and cannot be changed afterwards."""
    if kwargs.get("operation") == "CREATE":
        submitted = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        _set_annotation(patch, body, ANNOTATION_REQUESTED_BY, str(userinfo.get("username", "")))
        annotations = dict(patch.get("metadata", {}).get("annotations") or _annotations(body))
        annotations[ANNOTATION_SUBMITTED] = submitted
        patch.setdefault("metadata", {})["annotations"] = annotations
    else:
        before = _annotations(kwargs.get("old"))
        annotations = _annotations(body)
        for key in (ANNOTATION_REQUESTED_BY, ANNOTATION_SUBMITTED):
            if key in before:
                annotations[key] = before[key]
            else:
                annotations.pop(key, None)
        if annotations != _annotations(body):
            patch.setdefault("metadata", {})["annotations"] = annotations


@kopf.on.mutate(
    GROUP, VERSION, "executions", operations=["UPDATE"], id="record-recoverer", persistent=True
)
def record_recoverer(
    patch: kopf.Patch, body: kopf.Body, userinfo: kopf.UserInfo, **kwargs: Any
) -> None:
    """``headway.dev/recover-requested-by``: who set the current recover value."""
    before, after = _annotations(kwargs.get("old")), _annotations(body)
    if after.get(ANNOTATION_RECOVER) != before.get(ANNOTATION_RECOVER):
        _set_annotation(patch, body, ANNOTATION_RECOVER_BY, str(userinfo.get("username", "")))
    else:
        _set_annotation(patch, body, ANNOTATION_RECOVER_BY, before.get(ANNOTATION_RECOVER_BY))


def may_recover(userinfo: kopf.UserInfo, namespace: str) -> bool:
    """Whether the user may ``create recoveryrequests`` in ``namespace`` (SubjectAccessReview)."""
    from headway.handlers.main import _operator

    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": userinfo.get("username"),
            "uid": userinfo.get("uid"),
            "groups": list(userinfo.get("groups") or []),
            "extra": dict(userinfo.get("extra") or {}),  # type: ignore[call-overload]
            "resourceAttributes": {
                "namespace": namespace,
                "verb": "create",
                "group": GROUP,
                "resource": "recoveryrequests",
            },
        },
    }
    result = _operator().kube.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool((result.get("status") or {}).get("allowed"))


@kopf.on.validate(
    GROUP, VERSION, "executions", operations=["UPDATE"], id="recover-permission", persistent=True
)
def check_recover_permission(
    body: kopf.Body, userinfo: kopf.UserInfo, namespace: str | None, **kwargs: Any
) -> None:
    old = kwargs.get("old")
    if _annotations(body).get(ANNOTATION_RECOVER) == _annotations(old).get(ANNOTATION_RECOVER):
        return
    user = userinfo.get("username", "")
    if not may_recover(userinfo, namespace or ""):
        raise kopf.AdmissionError(
            f'user "{user}" may not recover executions in namespace "{namespace}": setting '
            f"{ANNOTATION_RECOVER} needs permission to create recoveryrequests.{GROUP} there",
            code=403,
        )
