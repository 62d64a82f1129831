"""What the identity webhook signs on a RecoveryRequest and what the operator checks:
a request named by ``generateName`` is signed before the API server names it."""

from __future__ import annotations

from headway.core import identity

KEY = b"k" * 32
SPEC = {"executionRef": {"name": "x-1"}, "mode": "Flow"}
RECORDED = {identity.ANNOTATION_REQUESTED_BY: "alice", identity.ANNOTATION_SUBMITTED: "t"}


def signed(admitted: dict[str, str]) -> dict[str, str]:
    fields = identity.request_fields("ns", identity.admitted_name(admitted), SPEC, RECORDED)
    return {**RECORDED, identity.ANNOTATION_SIGNATURE: identity.signature(KEY, *fields)}


def verifies(stored: dict[str, str], annotations: dict[str, str]) -> str | None:
    for name in identity.admitted_names(stored):
        fields = identity.request_fields("ns", name, SPEC, annotations)
        found = identity.requester(KEY, fields, annotations, identity.ANNOTATION_REQUESTED_BY)
        if found:
            return found
    return None


def test_a_named_request_verifies_under_its_name_only() -> None:
    annotations = signed({"name": "fix-1"})
    assert verifies({"name": "fix-1"}, annotations) == "alice"
    assert verifies({"name": "fix-2"}, annotations) is None


def test_a_generated_name_verifies_under_its_prefix() -> None:
    annotations = signed({"generateName": "fix-"})
    assert verifies({"name": "fix-x7k2p", "generateName": "fix-"}, annotations) == "alice"
    assert verifies({"name": "other-x7k2p", "generateName": "fix-"}, annotations) is None
    assert verifies({"name": "fix-x7k2p"}, annotations) is None  # no prefix recorded
