"""The kubelet: registers its Node, heartbeats, and runs a PodWorker per bound pod."""

from __future__ import annotations

import datetime
import logging
import platform
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from headway.shell.kube import Kube, KubeError, path_of
from localcluster.kubelet.network import PodNetwork
from localcluster.kubelet.status import HOST_IP, timestamp
from localcluster.kubelet.worker import PodWorker

JSON = dict[str, Any]
log = logging.getLogger("kubelet")
LEASE_SECONDS = 40
HEARTBEAT = 5.0
# Images from a registry under the reserved .invalid domain can never be pulled, here as on
# any real cluster: tests use them to hold a pod Pending with ErrImagePull/ImagePullBackOff.
UNPULLABLE_REGISTRY = re.compile(r"^[^/]+\.invalid(:\d+)?/")


class GatedKube(Kube):
    """A client that blocks while the node is partitioned (the "node lost" fault)."""

    def __init__(self, kubeconfig: Path, connected: threading.Event) -> None:
        super().__init__(kubeconfig)
        self.connected = connected

    def _send(self, *args: Any, **kwargs: Any) -> Any:
        self.connected.wait()
        return super()._send(*args, **kwargs)


class Kubelet:
    def __init__(
        self,
        node: str,
        kubeconfig: Path,
        state_dir: Path,
        port: int,
        api_host: str,
        api_port: int,
        capacity: dict[str, str],
        kube_version: str,
        pod_cidr: str = "10.244.0.0/24",
    ) -> None:
        self.node = node
        self.network = PodNetwork(pod_cidr)
        self.network.reset()
        self.state_dir = state_dir
        self.port = port
        self.api_host = api_host
        self.api_port = api_port
        self.capacity = capacity
        self.kube_version = kube_version
        self.connected = threading.Event()
        self.connected.set()
        self.stopping = threading.Event()
        self.kube = GatedKube(kubeconfig, self.connected)
        self.workers: dict[str, PodWorker] = {}
        self.blocked_images: set[str] = set()
        self._lock = threading.Lock()
        self.boot_id = str(uuid.uuid4())

    # --- faults ----------------------------------------------------------------------------

    def image_blocked(self, image: str) -> bool:
        return bool(UNPULLABLE_REGISTRY.match(image)) or any(
            image.startswith(prefix) for prefix in self.blocked_images
        )

    def set_partitioned(self, partitioned: bool) -> None:
        if partitioned:
            self.connected.clear()
        else:
            self.connected.set()

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        with self._lock:
            return next(
                (w for w in self.workers.values() if (w.namespace, w.name) == (namespace, name)),
                None,
            )

    # --- node ------------------------------------------------------------------------------

    def _node_status(self) -> JSON:
        now = timestamp(datetime.datetime.now(datetime.UTC))

        def condition(kind: str, status: str, reason: str, message: str) -> JSON:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        return {
            "capacity": self.capacity,
            "allocatable": self.capacity,
            "conditions": [
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                condition(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": HOST_IP},
                {"type": "Hostname", "address": self.node},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": self.node,
                "systemUUID": self.node,
                "bootID": self.boot_id,
                "kernelVersion": platform.release(),
                "osImage": "Headway local node",
                "containerRuntimeVersion": "headway-local://0.1.0",
                "kubeletVersion": self.kube_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "headway.dev/local-node": "true",
                },
            },
        }
        try:
            self.kube.create("/api/v1/nodes", node)
        except KubeError as error:
            if error.status != 409:
                raise
        self._post_node_status()

    def _post_node_status(self) -> None:
        # Transition times are kept by merging conditions the way the API server stores them:
        # this local node only ever reports healthy conditions, so overwriting is faithful.
        self.kube.patch(f"/api/v1/nodes/{self.node}/status", {"status": self._node_status()})

    def _renew_lease(self) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = path_of("coordination.k8s.io/v1", "leases", "kube-node-lease", self.node)
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now,
            },
        }
        try:
            self.kube.patch(path, {"spec": lease["spec"]})
        except KubeError as error:
            if error.status != 404:
                raise
            self.kube.create(path_of("coordination.k8s.io/v1", "leases", "kube-node-lease"), lease)

    def heartbeat_loop(self) -> None:
        last_status = 0.0
        while not self.stopping.is_set():
            try:
                self._renew_lease()
                if time.monotonic() - last_status > 2 * HEARTBEAT:
                    self._post_node_status()
                    last_status = time.monotonic()
            except Exception as error:  # keep heartbeating through API hiccups
                log.warning("heartbeat failed: %s", error)
            self.stopping.wait(HEARTBEAT)

    # --- pods ------------------------------------------------------------------------------

    def _dispatch(self, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self.workers.get(uid)
            if worker is None:
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    def _forget(self, uid: str) -> None:
        with self._lock:
            worker = self.workers.get(uid)
        if worker:
            worker.forget()

    def worker_done(self, worker: PodWorker) -> None:
        with self._lock:
            if self.workers.get(worker.uid) is worker:
                del self.workers[worker.uid]

    def sync_loop(self) -> None:
        selector = f"spec.nodeName={self.node}"
        while not self.stopping.is_set():
            try:
                listing = self.kube.get("/api/v1/pods", fieldSelector=selector)
                seen = set()
                for pod in listing.get("items") or []:
                    seen.add(pod["metadata"]["uid"])
                    self._dispatch(pod)
                with self._lock:
                    missing = [uid for uid in self.workers if uid not in seen]
                for uid in missing:
                    self._forget(uid)
                version = listing["metadata"]["resourceVersion"]
                for event in self.kube.watch(
                    "/api/v1/pods",
                    timeout_seconds=120,
                    fieldSelector=selector,
                    resourceVersion=version,
                ):
                    self.connected.wait()
                    if self.stopping.is_set():
                        return
                    kind, obj = event["type"], event["object"]
                    if kind in ("ADDED", "MODIFIED"):
                        self._dispatch(obj)
                    elif kind == "DELETED":
                        self._forget(obj["metadata"]["uid"])
                    elif kind == "ERROR":
                        break
            except Exception as error:
                if not self.stopping.is_set():
                    log.warning("pod watch failed, relisting: %s", error)
                    self.stopping.wait(1.0)

    def stop(self) -> None:
        """Stop every pod's processes (without reporting), then return."""
        self.stopping.set()
        self.connected.set()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.changed.set()
        for worker in workers:
            worker.join(timeout=10)
