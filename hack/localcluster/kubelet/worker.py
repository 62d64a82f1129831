"""One thread per pod: volumes, image "pull", init containers, containers, status, deletion."""

from __future__ import annotations

import contextlib
import datetime
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from headway.shell.kube import Kube, KubeError, path_of
from localcluster.kubelet import network, podenv, runtime
from localcluster.kubelet.network import PodNetwork
from localcluster.kubelet.probes import Prober, check
from localcluster.kubelet.status import (
    OWN_CONDITIONS,
    ContainerState,
    PodState,
    pod_status,
    timestamp,
)
from localcluster.kubelet.volumes import VolumeError, Volumes, read_source


class Kubelet(Protocol):
    """What a pod's worker needs of the kubelet that runs it (``agent.Kubelet``), named
    here so that the worker does not import the agent that imports it."""

    @property
    def kube(self) -> Kube: ...

    @property
    def state_dir(self) -> Path: ...

    @property
    def network(self) -> PodNetwork: ...

    @property
    def stopping(self) -> threading.Event: ...

    @property
    def api_host(self) -> str: ...

    @property
    def api_port(self) -> int: ...

    def image_blocked(self, image: str) -> bool: ...

    def worker_done(self, worker: PodWorker) -> None: ...


JSON = dict[str, Any]
log = logging.getLogger("kubelet.worker")
POLL = 0.1
RETRY = 2.0
RESTART_BACKOFF = (10.0, 300.0)  # first delay, cap: as the kubelet's crash-loop back-off
DEFAULT_TERMINATION_PATH = "/dev/termination-log"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class PodStopped(Exception):
    """The pod is being deleted (or is gone): stop what runs and clean up."""


class PodWorker(threading.Thread):
    def __init__(self, kubelet: Kubelet, pod: JSON) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.kubelet = kubelet
        self.pod = pod
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir: Path = kubelet.state_dir / "pods" / self.uid
        self.processes: dict[str, runtime.Process] = {}
        self.changed = threading.Event()
        self.gone = threading.Event()  # deleted from the API: nothing left to report to
        spec = pod["spec"]
        self.state = PodState(
            init=[
                ContainerState(c["name"], c.get("image", ""))
                for c in spec.get("initContainers") or []
            ],
            main=[ContainerState(c["name"], c.get("image", "")) for c in spec["containers"]],
            restart_policy=spec.get("restartPolicy", "Always"),
        )
        self._lock = threading.Lock()
        self.probers: dict[str, Prober] = {}
        self._last_status: JSON | None = None
        self._unreported = False  # the last status report failed for a passing reason

    # --- events from the agent ---------------------------------------------------------

    def update(self, pod: JSON) -> None:
        self.pod = pod
        self.changed.set()

    def forget(self) -> None:
        """The pod was removed from the API: stop at once, report nothing."""
        self.gone.set()
        self.changed.set()

    @property
    def deleting(self) -> bool:
        return self.gone.is_set() or bool(self.pod["metadata"].get("deletionTimestamp"))

    def _check(self) -> None:
        if self.deleting or self.kubelet.stopping.is_set():
            raise PodStopped

    def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; an update of the pod (or its deletion) wakes it."""
        self.changed.wait(seconds)
        self.changed.clear()
        self._check()

    def _sleep_for(self, seconds: float) -> None:
        """Sleep the whole ``seconds``: updates of the pod (our own status reports among
        them) do not cut it short; a deletion still ends it."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._sleep(left)

    # --- lifecycle -----------------------------------------------------------------------

    def run(self) -> None:
        try:
            with contextlib.suppress(PodStopped):
                self._run()
            self._shutdown()
        except Exception:
            log.exception("pod %s/%s: worker failed", self.namespace, self.name)

    def _run(self) -> None:
        status = self.pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            self._wait_for_deletion()
            return
        if status.get("containerStatuses") and any(
            "running" in (c.get("state") or {}) for c in status["containerStatuses"]
        ):
            self._lost_containers()
            return
        self.state.start_time = timestamp(_now())
        self._report()
        self._setup_volumes()
        if network.serves(self.pod):
            self.state.pod_ip = self.kubelet.network.allocate()
        self.state.sandbox_ready = True
        self._pull_images()
        for container, state in zip(
            self.pod["spec"].get("initContainers") or [], self.state.init, strict=True
        ):
            self._run_init(container, state)
            if self.state.phase() == "Failed":
                self._report()
                self._wait_for_deletion()
                return
        self._run_main()
        self._wait_for_deletion()

    def _lost_containers(self) -> None:
        """Containers this kubelet does not know (it restarted): report them ended,
        as a kubelet does after a reboot."""
        finished = timestamp(_now())
        for state in self.state.init + self.state.main:
            state.terminate(
                137,
                "ContainerStatusUnknown",
                "The container could not be located when the pod was terminated",
                finished,
            )
        self.state.forced_phase = "Failed"
        self._report()
        self._wait_for_deletion()

    def _setup_volumes(self) -> None:
        volumes = Volumes(self.kubelet.kube, self.pod, self.dir)
        while True:
            self._check()
            try:
                volumes.setup_all()
                return
            except (VolumeError, KubeError) as error:
                for state in self.state.init + self.state.main:
                    state.wait("ContainerCreating", f"MountVolume.SetUp failed: {error}")
                self._report()
                self._sleep_for(RETRY)

    def _pull_images(self) -> None:
        first = True
        while True:
            self._check()
            blocked = [
                s for s in self.state.init + self.state.main if self.kubelet.image_blocked(s.image)
            ]
            if not blocked:
                return
            for state in blocked:
                reason = "ErrImagePull" if first else "ImagePullBackOff"
                message = (
                    f'failed to pull image "{state.image}": not found or unreachable'
                    if first
                    else f'Back-off pulling image "{state.image}"'
                )
                state.wait(reason, message)
            first = not first
            self._report()
            self._sleep_for(RETRY)

    def _start(self, container: JSON, state: ContainerState) -> runtime.Process | None:
        """Start ``container``; None (and a waiting reason) when its config cannot be resolved."""
        base = podenv.image_environment(self.pod, self.kubelet.api_host, self.kubelet.api_port)
        # The downward API sees the address given to this pod, reported or not yet.
        ip = self.state.pod_ip
        pod = {**self.pod, "status": {**(self.pod.get("status") or {}), "podIP": ip}}
        pod["status"]["podIPs"] = [{"ip": ip}]
        try:
            env = podenv.build(
                pod, container, base, lambda k, ns, n: read_source(self.kubelet.kube, k, ns, n)
            )
        except (podenv.EnvError, KubeError) as error:
            state.wait("CreateContainerConfigError", str(error))
            return None
        argv = [
            podenv.expand(a, env)
            for a in (container.get("command") or []) + (container.get("args") or [])
        ]
        volumes = Volumes(self.kubelet.kube, self.pod, self.dir)
        mounts = [
            runtime.Mount(
                str(volumes.path(m["name"]) / m["subPath"])
                if m.get("subPath")
                else str(volumes.path(m["name"])),
                m["mountPath"],
                bool(m.get("readOnly")),
            )
            for m in container.get("volumeMounts") or []
        ]
        container_id = f"headway-local://{self.uid[:8]}-{container['name']}-{state.restart_count}"
        process = runtime.start(
            container_id,
            self.dir / "containers" / container["name"] / str(state.restart_count),
            argv,
            env,
            container.get("workingDir"),
            mounts,
            container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH,
        )
        self.processes[container["name"]] = process
        state.run(container_id, timestamp(_now()))
        probe = container.get("readinessProbe")
        if probe and container in self.pod["spec"]["containers"]:
            self.probers[container["name"]] = Prober(probe)
            state.probed_ready = False
        return process

    def _finish(
        self, container: JSON, state: ContainerState, process: runtime.Process, code: int
    ) -> None:
        """Record how a container ended, with its termination message."""
        start_error = process.start_error()
        if start_error:
            state.terminate(code, "StartError", start_error, timestamp(_now()))
            return
        policy = container.get("terminationMessagePolicy", "File")
        message = process.termination_message(policy, failed=code != 0)
        reason = "Completed" if code == 0 else "Error"
        state.terminate(code, reason, message, timestamp(_now()))

    def _run_init(self, container: JSON, state: ContainerState) -> None:
        while True:
            process = self._start(container, state)
            self._report()
            if process is None:
                self._sleep_for(RETRY)
                continue
            code = self._wait_exit(process)
            self._finish(container, state, process, code)
            if code == 0 or self.state.restart_policy == "Never":
                self._report()
                return
            self._report()
            self._backoff(state)
            state.restart()

    def _wait_exit(self, process: runtime.Process) -> int:
        while True:
            code = process.exit_code()
            if code is not None:
                return code
            self._enforce_deadline()
            self._sleep(POLL)

    def _run_main(self) -> None:
        containers = self.pod["spec"]["containers"]
        pending = dict(
            zip(
                [c["name"] for c in containers],
                zip(containers, self.state.main, strict=True),
                strict=True,
            )
        )
        restart_at: dict[str, float] = {}
        while True:
            for name, (container, state) in pending.items():
                if state.running_since or (state.terminated and name not in restart_at):
                    continue
                if restart_at.get(name, 0) > time.monotonic():
                    continue
                if name in restart_at:
                    state.restart()
                    del restart_at[name]
                self._start(container, state)
            self._report()
            if all(s.terminated for s in self.state.main) and not restart_at:
                return
            self._sleep(POLL)
            self._enforce_deadline()
            self._probe(pending)
            for name, (container, state) in pending.items():
                process = self.processes.get(name)
                code = process.exit_code() if process and state.running_since else None
                if process is None or code is None:
                    continue
                self._finish(container, state, process, code)
                policy = self.state.restart_policy
                if policy == "Always" or (policy == "OnFailure" and code != 0):
                    delay = min(RESTART_BACKOFF[0] * 2**state.restart_count, RESTART_BACKOFF[1])
                    restart_at[name] = time.monotonic() + delay

    def _probe(self, containers: dict[str, tuple[JSON, ContainerState]]) -> None:
        """Run the readiness probes that are due; a change is reported."""
        now = time.monotonic()
        for name, prober in self.probers.items():
            container, state = containers[name]
            if not state.running_since or not prober.due(now):
                continue
            if prober.record(check(prober.probe, container, self.state.pod_ip), now):
                state.probed_ready = prober.ready
                self._report()

    def _backoff(self, state: ContainerState) -> None:
        delay = min(RESTART_BACKOFF[0] * 2**state.restart_count, RESTART_BACKOFF[1])
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            self._sleep(min(POLL * 10, deadline - time.monotonic()))

    def _enforce_deadline(self) -> None:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is None or self.state.start_time is None:
            return
        started = datetime.datetime.strptime(self.state.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
        if (_now() - started).total_seconds() < deadline:
            return
        self._stop_processes(grace=0)
        self.state.forced_phase = "Failed"
        self.state.reason = "DeadlineExceeded"
        self.state.message = "Pod was active on the node longer than the specified deadline"
        self._report()
        self._wait_for_deletion()
        raise PodStopped

    def _wait_for_deletion(self) -> None:
        """Until the pod is deleted: a final status whose report failed (the API server
        was away) is sent again; once one went through, nothing more is sent."""
        while True:
            if self._unreported:
                self._report()
            self._sleep(RETRY)

    def _stop_processes(self, grace: float) -> None:
        containers = {c["name"]: c for c in self.pod["spec"].get("initContainers") or []}
        containers.update({c["name"]: c for c in self.pod["spec"]["containers"]})
        states = {s.name: s for s in self.state.init + self.state.main}
        running = [(n, p) for n, p in self.processes.items() if p.exit_code() is None]
        threads = [threading.Thread(target=p.stop, args=(grace,)) for _, p in running]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, process in running:
            code = process.exit_code()
            self._finish(containers[name], states[name], process, 137 if code is None else code)

    def _shutdown(self) -> None:
        """Kill what still runs, report the final status and remove the pod."""
        grace = float(
            self.pod["metadata"].get("deletionGracePeriodSeconds")
            or self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        )
        if self.kubelet.stopping.is_set():
            grace = min(grace, 2.0)
        self._stop_processes(grace=0 if self.gone.is_set() else grace)
        self.kubelet.network.release(self.state.pod_ip)
        if not self.gone.is_set() and not self.kubelet.stopping.is_set():
            if self.state.phase() not in ("Succeeded", "Failed"):
                self.state.forced_phase = "Failed"
            self._report()
            try:
                self.kubelet.kube.delete(
                    path_of("v1", "pods", self.namespace, self.name),
                    {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
                )
            except KubeError as error:
                if error.status != 409:
                    log.warning(
                        "pod %s/%s: final delete failed: %s", self.namespace, self.name, error
                    )
        if not self.kubelet.stopping.is_set():
            shutil.rmtree(self.dir, ignore_errors=True)
        self.kubelet.worker_done(self)

    # --- status --------------------------------------------------------------------------

    def _report(self) -> None:
        if self.gone.is_set():
            return
        with self._lock:
            status = pod_status(self.state, self.pod.get("status") or {}, _now())
            comparable = {k: v for k, v in status.items() if k != "conditions"}
            # Sent already, and the API server still shows it: nothing to send. (The node
            # controller sets Ready=False on a node it lost; once back, the kubelet's own
            # conditions must be sent again, as a kubelet's status sync does.)
            shown = (self.pod.get("status") or {}).get("conditions") or []
            if self._last_status == {
                **comparable,
                "c": [(c["type"], c["status"]) for c in status["conditions"]],
            } and _own(shown) == _own(status["conditions"]):
                return
            try:
                updated = self.kubelet.kube.patch(
                    path_of("v1", "pods", self.namespace, self.name) + "/status", {"status": status}
                )
            except KubeError as error:
                if error.status == 404:
                    self.gone.set()
                    return
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, error)
                if error.status in {0, 429} or error.status >= 500:
                    self._unreported = True
                    return  # the API server was away or busy: reported again later
                # Refused as invalid: sending the same again would be refused again.
            else:
                self.pod = {**self.pod, "status": updated.get("status", status)}
            self._unreported = False
            self._last_status = {
                **comparable,
                "c": [(c["type"], c["status"]) for c in status["conditions"]],
            }

    def describe(self) -> JSON:
        """For the control API: the pod's containers and their pids."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "phase": self.state.phase(),
            "containers": {
                n: {"pid": p.pid, "exitCode": p.exit_code(), "log": str(p.log_path)}
                for n, p in self.processes.items()
            },
        }


def _own(conditions: list[JSON]) -> list[tuple[str, str]]:
    """The kubelet-owned conditions, as (type, status), in a stable order."""
    return sorted((c["type"], c["status"]) for c in conditions if c["type"] in OWN_CONDITIONS)
