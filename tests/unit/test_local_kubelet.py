"""The local kubelet's pure parts: environment resolution and pod phase rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from localcluster.kubelet import podenv
from localcluster.kubelet.status import ContainerState, PodState, pod_status
from localcluster.kubelet.status import timestamp as ts

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "n1", "serviceAccountName": "sa"},
    "status": {"hostIP": "127.0.0.1", "podIP": "127.0.0.1"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("plain", "plain"),
        ("$(A", "$(A"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert podenv.expand(text, {"A": "1", "B": "2"}) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "p"),
        ("metadata.namespace", "ns"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['app']", "x"),
        ("metadata.labels['absent']", ""),
        ("spec.nodeName", "n1"),
        ("spec.serviceAccountName", "sa"),
        ("status.podIP", "127.0.0.1"),
    ],
)
def test_field_value(path: str, expected: str) -> None:
    assert podenv.field_value(POD, path) == expected


def test_unknown_field_path_is_an_error() -> None:
    with pytest.raises(podenv.EnvError, match=r"spec\.bogus"):
        podenv.field_value(POD, "spec.bogus")


def _reader(sources: Mapping[tuple[str, str], Mapping[str, str]]) -> podenv.SourceReader:
    return lambda kind, namespace, name: sources.get((kind, name))


def test_build_orders_env_from_then_env_with_references() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-$(CM_k)-$(BASE)"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    read = _reader({("configmap", "cm"): {"k": "v"}, ("secret", "s"): {"pw": "x"}})
    env = podenv.build(POD, container, {"BASE": "b"}, read)
    assert env == {"BASE": "b", "CM_k": "v", "A": "a", "B": "a-v-b", "S": "x", "N": "p"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
            'configmap "nope"',
        ),
        (
            [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "other"}}}],
            'key "other"',
        ),
    ],
)
def test_build_names_what_is_missing(env: list[dict[str, Any]], message: str) -> None:
    read = _reader({("secret", "s"): {"pw": "x"}})
    with pytest.raises(podenv.EnvError, match=message):
        podenv.build(POD, {"env": env}, {}, read)


def test_optional_missing_sources_are_skipped() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "nope", "optional": True}}],
        "env": [
            {
                "name": "X",
                "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}},
            }
        ],
    }
    assert podenv.build(POD, container, {}, _reader({})) == {}


def _ended(name: str, code: int) -> ContainerState:
    state = ContainerState(name, "img")
    state.run("id", "2026-01-01T00:00:00Z")
    state.terminate(code, "Completed" if code == 0 else "Error", "", "2026-01-01T00:00:01Z")
    return state


def _running(name: str) -> ContainerState:
    state = ContainerState(name, "img")
    state.run("id", "2026-01-01T00:00:00Z")
    return state


@pytest.mark.parametrize(
    ("init", "main", "policy", "phase"),
    [
        ([], [ContainerState("a", "img")], "Never", "Pending"),
        ([_running("i")], [ContainerState("a", "img")], "Never", "Pending"),
        ([_ended("i", 1)], [ContainerState("a", "img")], "Never", "Failed"),
        ([_ended("i", 1)], [ContainerState("a", "img")], "OnFailure", "Pending"),
        ([_ended("i", 0)], [_running("a")], "Never", "Running"),
        ([], [_running("a"), _ended("b", 0)], "Never", "Running"),
        ([], [_ended("a", 0), _ended("b", 0)], "Never", "Succeeded"),
        ([], [_ended("a", 0), _ended("b", 2)], "Never", "Failed"),
        # Always restarts what ended: the phase stays Running (a ReplicaSet would otherwise
        # replace the pod while its container waits to start again).
        ([], [_ended("a", 128)], "Always", "Running"),
        ([], [_ended("a", 0)], "Always", "Running"),
    ],
)
def test_pod_phase(
    init: list[ContainerState], main: list[ContainerState], policy: str, phase: str
) -> None:
    assert PodState(init=init, main=main, restart_policy=policy).phase() == phase


def test_pod_status_keeps_foreign_conditions_and_transition_times() -> None:
    import datetime

    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    previous = {
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": "2026-01-01T11:00:00Z",
            },
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-01-01T11:30:00Z"},
        ]
    }
    state = PodState(init=[], main=[_running("a")], restart_policy="Never", sandbox_ready=True)
    status = pod_status(state, previous, now)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["PodScheduled"]["lastTransitionTime"] == "2026-01-01T11:00:00Z"
    assert conditions["Initialized"]["lastTransitionTime"] == "2026-01-01T11:30:00Z"
    assert conditions["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": ts(now),
    }
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["state"] == {
        "running": {"startedAt": "2026-01-01T00:00:00Z"}
    }


def test_restart_keeps_the_last_termination() -> None:
    state = _ended("a", 1)
    state.restart()
    status = state.to_status()
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
