"""Run the Headway operator as a local process against a cluster (tests, demo).

The process can be SIGKILLed and started again, as a crashed operator would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from headway.shell.kube import Kube
from localcluster.layout import REPO_ROOT

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
WEBHOOKS = (
    f"{ADMISSION}/validatingwebhookconfigurations/headway.dev",
    f"{ADMISSION}/mutatingwebhookconfigurations/headway.dev",
)


class OperatorExited(RuntimeError):
    """The operator process ended while it was expected to run; the message holds its log."""


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, webhook_port: int) -> None:
        self.kubeconfig = kubeconfig
        self.kube = Kube(kubeconfig)
        self.log_path = log_path
        self.webhook_port = webhook_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until its admission webhooks (validating and mutating) are
        registered."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "operator"), str(REPO_ROOT / "hack")]),
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "headway",
                    "operator",
                    "--webhook-port",
                    str(self.webhook_port),
                    "--webhook-cert-dir",
                    str(self.log_path.parent / "webhook"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._webhooks_ready():
            if time.monotonic() > deadline:
                raise OperatorExited(
                    f"operator not ready after {timeout:.0f}s; log: {self.log_path}"
                )
            time.sleep(0.2)

    def _webhooks_ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise OperatorExited(f"the operator exited with {self.process.returncode}:\n{tail}")
        configs = [self.kube.find(path) for path in WEBHOOKS]
        return all(c and len(c.get("webhooks") or []) >= 2 for c in configs)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when the node under the operator dies."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def remove_webhooks(self) -> None:
        """Its webhook configurations (kopf keeps them after it stops, failing closed)."""
        for path in WEBHOOKS:
            self.kube.delete(path)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
