"""Authorization questions asked of the API server (SubjectAccessReview)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headway.models.base import GROUP
from headway.shell.kube import Kube, KubeError

REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def allowed(
    kube: Kube,
    attributes: Mapping[str, str],
    username: str,
    uid: str | None = None,
    groups: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the user may do what ``attributes`` (a SubjectAccessReview's
    resourceAttributes) describe."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": username,
            "uid": uid,
            "groups": list(groups),
            "extra": dict(extra or {}),
            "resourceAttributes": dict(attributes),
        },
    }
    result = kube.create(REVIEWS, review)
    return bool((result.get("status") or {}).get("allowed"))


def recoveryrequests_attributes(namespace: str) -> dict[str, str]:
    """``create recoveryrequests.headway.dev`` in ``namespace``: what recovering takes."""
    return {
        "namespace": namespace,
        "verb": "create",
        "group": GROUP,
        "resource": "recoveryrequests",
    }


def recovery_refused(error: KubeError, namespace: str) -> str | None:
    """What to tell a person whose RecoveryRequest RBAC refused (None when the refusal
    is something else, such as an admission webhook's)."""
    if error.status != 403 or "admission webhook" in error.body:
        return None
    return (
        f'you may not create recoveryrequests in namespace "{namespace}": '
        "ask for the headway-recover role there"
    )
