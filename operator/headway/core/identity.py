"""Who asked for a recovery, as the admission webhook recorded it, and the proof of it.

The webhook learns the authenticated user from the API server and writes it to an
annotation together with an HMAC over what it vouches for, keyed with a secret
only Headway holds. The operator trusts a requester only when the HMAC checks
out, so an annotation written by a client (or by anyone while the webhook was
not installed) is never taken for the truth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

# On a RecoveryRequest: who created it; on an Execution: who set the recover value.
ANNOTATION_REQUESTED_BY = "headway.dev/requested-by"
ANNOTATION_RECOVER = "headway.dev/recover"
ANNOTATION_RECOVER_BY = "headway.dev/recover-requested-by"
ANNOTATION_SUBMITTED = "headway.dev/submitted-at"
ANNOTATION_SIGNATURE = "headway.dev/identity-signature"
# On a Workflow, and on an Execution that carries its own workflow: who defined what runs,
# checked by the webhook as allowed to (core.definers), and the signature over it.
ANNOTATION_DEFINED_BY = "headway.dev/defined-by"
ANNOTATION_DEFINER_SIGNATURE = "headway.dev/definer-signature"
DEFINER_KEYS = (ANNOTATION_DEFINED_BY, ANNOTATION_DEFINER_SIGNATURE)


def signature(key: bytes, *fields: str) -> str:
    """The HMAC-SHA256 of ``fields`` (unambiguously joined), hex."""
    message = "\x00".join(f"{len(f)}:{f}" for f in fields).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def request_fields(
    namespace: str, name: str, spec: Any, annotations: Mapping[str, str]
) -> tuple[str, ...]:
    """What the webhook vouches for on a RecoveryRequest: this request (its spec, which
    cannot change), by this user, at this moment."""
    return (
        "RecoveryRequest",
        namespace,
        name,
        json.dumps(spec, sort_keys=True, separators=(",", ":")),
        annotations.get(ANNOTATION_REQUESTED_BY, ""),
        annotations.get(ANNOTATION_SUBMITTED, ""),
    )


def admitted_name(metadata: Mapping[str, Any]) -> str:
    """The request's name as its admission webhook sees it at create: a name given with
    ``generateName`` is made by the API server only after admission."""
    return str(metadata.get("name") or f"generateName:{metadata.get('generateName', '')}")


def admitted_names(metadata: Mapping[str, Any]) -> list[str]:
    """What the webhook may have seen as this created request's name: its name, or, for
    one named by ``generateName``, that prefix (see ``admitted_name``)."""
    name, prefix = str(metadata.get("name", "")), metadata.get("generateName")
    names = [name]
    if prefix and name.startswith(prefix):
        names.append(f"generateName:{prefix}")
    return names


def recover_fields(
    namespace: str, name: str, uid: str, annotations: Mapping[str, str]
) -> tuple[str, ...]:
    """What the webhook vouches for on an Execution: this recover value, on this very
    object (its uid: a copy onto a re-created Execution does not verify), set by this user.
    The annotation is honoured only when set by an update, never at create."""
    return (
        "Execution",
        namespace,
        name,
        uid,
        annotations.get(ANNOTATION_RECOVER, ""),
        annotations.get(ANNOTATION_RECOVER_BY, ""),
    )


def definition_fields(
    kind: str, namespace: str, name: str, definition: Any, definer: str
) -> tuple[str, ...]:
    """What the webhook vouches for on a Workflow (``definition``: its spec) or on an
    Execution with an inline workflow (that workflow): this definition, of this object,
    by this user, who was allowed to define it."""
    return (
        "Definition",
        kind,
        namespace,
        name,
        json.dumps(definition, sort_keys=True, separators=(",", ":")),
        definer,
    )


def definer(
    key: bytes | None, kind: str, metadata: Mapping[str, Any], definition: Any
) -> str | None:
    """Who defined ``definition`` (the object's spec, or its inline workflow), if the
    webhook's signature on the object proves it; else None (never checked: nothing of
    it may run)."""
    annotations: dict[str, str] = dict(metadata.get("annotations") or {})
    user = annotations.get(ANNOTATION_DEFINED_BY, "")
    for name in admitted_names(metadata):
        fields = definition_fields(kind, str(metadata.get("namespace", "")), name, definition, user)
        if user and verified(key, fields, annotations, ANNOTATION_DEFINER_SIGNATURE):
            return user
    return None


def verified(
    key: bytes | None,
    fields: tuple[str, ...],
    annotations: Mapping[str, str],
    signature_key: str = ANNOTATION_SIGNATURE,
) -> bool:
    """Whether the annotations carry the webhook's signature over ``fields``."""
    given = annotations.get(signature_key)
    if key is None or not given:
        return False
    return hmac.compare_digest(given, signature(key, *fields))


def requester(
    key: bytes | None, fields: tuple[str, ...], annotations: Mapping[str, str], annotation: str
) -> str | None:
    """The recorded user, if the webhook's signature proves it; else None."""
    if not verified(key, fields, annotations):
        return None
    return annotations.get(annotation) or None
