"""Pod status as a kubelet reports it, built from container states (pure, no I/O)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
HOST_IP = "127.0.0.1"
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerState:
    """What the kubelet knows of one container; exactly one of waiting/running/terminated holds."""

    name: str
    image: str
    waiting: tuple[str, str] | None = ("ContainerCreating", "")  # (reason, message)
    running_since: str | None = None
    terminated: JSON | None = None
    last_terminated: JSON | None = None
    restart_count: int = 0
    container_id: str | None = None
    probed_ready: bool | None = None  # the readiness probe's verdict; None: no probe

    @property
    def ready(self) -> bool:
        return self.running_since is not None and self.probed_ready is not False

    def wait(self, reason: str, message: str = "") -> None:
        self.waiting, self.running_since, self.terminated = (reason, message), None, None

    def run(self, container_id: str, since: str) -> None:
        self.waiting, self.running_since, self.terminated = None, since, None
        self.container_id = container_id

    def terminate(self, exit_code: int, reason: str, message: str, finished: str) -> None:
        self.terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": self.running_since or finished,
            "finishedAt": finished,
            "containerID": self.container_id or "",
        }
        if message:
            self.terminated["message"] = message
        self.waiting, self.running_since = None, None

    def restart(self) -> None:
        """Keep the last termination and count a restart, as a kubelet does."""
        self.last_terminated, self.restart_count = self.terminated, self.restart_count + 1
        self.wait("CrashLoopBackOff", f"back-off restarting failed container {self.name}")

    @property
    def succeeded(self) -> bool:
        return self.terminated is not None and self.terminated["exitCode"] == 0

    def to_status(self) -> JSON:
        state: JSON
        if self.terminated is not None:
            state = {"terminated": self.terminated}
        elif self.running_since is not None:
            state = {"running": {"startedAt": self.running_since}}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status: JSON = {
            "name": self.name,
            "image": self.image,
            "imageID": f"headway-local://{self.image}",
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
            "ready": self.ready,
            "started": self.running_since is not None,
            "restartCount": self.restart_count,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


@dataclass
class PodState:
    """The kubelet's view of one pod."""

    init: list[ContainerState]
    main: list[ContainerState]
    restart_policy: str = "Always"
    start_time: str | None = None
    sandbox_ready: bool = False
    reason: str | None = None  # pod-level, e.g. DeadlineExceeded
    message: str | None = None
    forced_phase: str | None = None  # e.g. Failed after a deadline or a lost container
    pod_ip: str = HOST_IP

    def phase(self) -> str:
        if self.forced_phase:
            return self.forced_phase
        if (
            any(c.terminated and not c.succeeded for c in self.init)
            and self.restart_policy == "Never"
        ):
            return "Failed"
        if not all(c.succeeded for c in self.init):
            return "Pending"
        if any(c.running_since for c in self.main):
            return "Running"
        if self.restart_policy == "Always" and any(
            c.restart_count or c.terminated for c in self.main
        ):
            return "Running"  # an ended container is started again: never a final phase
        if all(c.terminated for c in self.main):
            return "Succeeded" if all(c.succeeded for c in self.main) else "Failed"
        if any(c.restart_count or c.terminated for c in self.main):
            return "Running"  # waiting to restart
        return "Pending"


def _condition(kind: str, ok: bool, now: str, reason: str = "", message: str = "") -> JSON:
    condition: JSON = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_status(state: PodState, previous: JSON, now: datetime.datetime) -> JSON:
    """The status to write, keeping conditions owned by others (PodScheduled, DisruptionTarget)
    and transition times of conditions that did not change."""
    stamp = timestamp(now)
    phase = state.phase()
    terminal = phase in ("Succeeded", "Failed")
    initialized = all(c.succeeded for c in state.init)
    unready = [c.name for c in state.main if not c.ready]
    ready = not unready and not terminal
    ready_reason = "PodCompleted" if terminal else ("" if ready else "ContainersNotReady")
    ready_message = (
        "" if ready or terminal else f"containers with unready status: [{' '.join(unready)}]"
    )
    uninitialized = [c.name for c in state.init if not c.succeeded]
    conditions = [
        _condition("PodReadyToStartContainers", state.sandbox_ready, stamp),
        _condition(
            "Initialized",
            initialized,
            stamp,
            "" if initialized else "ContainersNotInitialized",
            ""
            if initialized
            else f"containers with incomplete status: [{' '.join(uninitialized)}]",
        ),
        _condition("ContainersReady", ready, stamp, ready_reason, ready_message),
        _condition("Ready", ready, stamp, ready_reason, ready_message),
    ]
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for condition in conditions:
        old = before.get(condition["type"])
        if old and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime", stamp)
    kept = [c for t, c in before.items() if t not in OWN_CONDITIONS]
    status: JSON = {
        "phase": phase,
        "conditions": kept + conditions,
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": state.pod_ip,
        "podIPs": [{"ip": state.pod_ip}],
        "startTime": state.start_time,
        "containerStatuses": [c.to_status() for c in state.main],
        "reason": state.reason,
        "message": state.message,
    }
    if state.init:
        status["initContainerStatuses"] = [c.to_status() for c in state.init]
    return status
