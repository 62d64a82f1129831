"""The operator as the chart installs it, for tests and the demo: started with
``helm upgrade --install`` (so a chart object a test deleted comes back), killed as a
crash kills it (SIGKILL of its pods' processes through the kubelet's fault API, then kept
down), and stopped gracefully. Each pod's log is kept in ``log_dir`` before it goes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from headway.shell.kube import Kube, KubeError, path_of
from localcluster import chart
from localcluster.faults import Faults, FaultsUnavailable

JSON = dict[str, Any]
SELECTOR = "app.kubernetes.io/name=headway,app.kubernetes.io/component=operator"
ADMISSION = "admissionregistration.k8s.io/v1"
LOCAL_PROCESS_WEBHOOKS = "headway.dev"  # kopf's name for the configurations it keeps


class OperatorDown(RuntimeError):
    """The operator did not become ready; the message says what was missing."""


class ChartOperator:
    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        values: dict[str, Any] | None = None,
        faults: Faults | None = None,
        release: str = chart.RELEASE,
        namespace: str = chart.NAMESPACE,
    ) -> None:
        self.kubeconfig, self.kube = kubeconfig, Kube(kubeconfig)
        self.log_dir, self.values, self.faults = log_dir, values or {}, faults
        self.release, self.namespace = release, namespace
        self.log_path = log_dir  # where the pods' logs are kept

    @property
    def configuration(self) -> str:
        """The name of the chart's webhook configurations (the release's full name)."""
        return self.release if "headway" in self.release else f"{self.release}-headway"

    def pods(self) -> list[JSON]:
        """The operator's pods that have not ended (ended ones stay until collected)."""
        path = path_of("v1", "pods", self.namespace)
        return [
            pod
            for pod in self.kube.get(path, labelSelector=SELECTOR)["items"]
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]

    def ready_pods(self) -> list[JSON]:
        """The operator's pods that are Ready and not going away (after a restart of the
        local cluster the pods of before linger, unknown, beside their replacements; during
        a rollout the old ones are still Ready while they terminate)."""
        return [
            pod for pod in self.pods()
            if not pod["metadata"].get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        ]  # fmt: skip

    def start(self, timeout: float = 300) -> None:
        """Install or upgrade the release and wait until its pods are Ready, the webhook
        Service has their addresses and the CA is in the webhook configurations. The
        webhook configurations of an operator run as a local process (``make operator``,
        the benchmark) go first: they point at a process that is gone."""
        for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
            self.kube.delete(path_of(ADMISSION, plural, None, LOCAL_PROCESS_WEBHOOKS))
        try:
            chart.install(
                self.kubeconfig,
                self.values,
                self.release,
                self.namespace,
                int(timeout),
                local=self.faults is not None,
            )
        except RuntimeError as error:
            raise OperatorDown(f"{error}\n{self._describe()}") from None
        deadline = time.monotonic() + timeout
        while (missing := self._missing()) is not None:
            if time.monotonic() > deadline:
                raise OperatorDown(f"operator not ready after {timeout:.0f}s: {missing}")
            time.sleep(0.2)

    def _missing(self) -> str | None:
        for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
            config = self.kube.find(path_of(ADMISSION, plural, None, self.configuration))
            hooks = (config or {}).get("webhooks") or []
            if not hooks or not all(h["clientConfig"].get("caBundle") for h in hooks):
                return f"{plural}/{self.configuration} has no CA bundle"
        slices = self.kube.get(
            path_of("discovery.k8s.io/v1", "endpointslices", self.namespace),
            labelSelector=f"kubernetes.io/service-name={self.configuration}-webhook",
        )["items"]
        ready = [
            e
            for s in slices
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        ]
        return None if ready else "the webhook Service has no ready endpoint"

    def kill(self) -> None:
        """As a crash: every operator process SIGKILLed at once, nothing released; the
        Deployment is scaled to zero so that it stays down until :meth:`start`."""
        pods = self.pods()
        for pod in pods:
            if self.faults is not None:
                try:
                    self.faults.kill_container(self.namespace, pod["metadata"]["name"])
                except FaultsUnavailable as error:  # a pod not running yet: nothing to kill
                    print(f"kill {pod['metadata']['name']}: {error}")
        self._keep_logs(pods)
        self._scale(0)
        if self.faults is None:
            for pod in pods:
                self.kube.delete(
                    path_of("v1", "pods", self.namespace, pod["metadata"]["name"]),
                    gracePeriodSeconds=0,
                )
        self._wait_no_pods()

    def stop(self) -> None:
        """Gracefully: the replicas shut down (the leader gives its Lease up)."""
        self._keep_logs(self.pods())
        self._scale(0)
        self._wait_no_pods()

    def _scale(self, replicas: int) -> None:
        path = path_of("apps/v1", "deployments", self.namespace, f"{self.configuration}-operator")
        self.kube.patch(path, {"spec": {"replicas": replicas}})

    def _wait_no_pods(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.pods():
            if time.monotonic() > deadline:
                raise OperatorDown("operator pods still there after being stopped")
            time.sleep(0.2)

    def keep_logs(self) -> None:
        self._keep_logs(self.pods())

    def _keep_logs(self, pods: list[JSON]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                text = self.kube.get_text(path_of("v1", "pods", self.namespace, name) + "/log")
            except KubeError as error:
                text = f"(no log: {error})\n"
            with (self.log_dir / f"{name}.log").open("a") as log:
                log.write(text)

    def _describe(self) -> str:
        lines = []
        for pod in self.pods():
            status = pod.get("status") or {}
            states = [c.get("state") for c in status.get("containerStatuses") or []]
            lines.append(f"pod {pod['metadata']['name']}: {status.get('phase')} {states}")
        return "\n".join(lines)
