"""Headway's Helm chart on a cluster: helm built from its Go module (``hack/build-helm.sh``),
and the values that make the chart run on the local cluster, whose kubelet runs the
image's command as a host process: the operator's command is this checkout's
``headway`` script, and serving pods listen on their own pod address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from localcluster.layout import REPO_ROOT

CHART = REPO_ROOT / "charts" / "headway"
RELEASE = "headway"
NAMESPACE = "headway-system"


def helm_binary() -> Path:
    """helm, built once into the cache outside the repository."""
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "build-helm.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(out.strip().splitlines()[-1])


def local_values() -> dict[str, Any]:
    """What the local cluster needs beyond the chart's defaults."""
    return {
        "image": {"repository": "headway.local/headway", "tag": "dev"},
        "operator": {
            "command": [str(Path(sys.executable).parent / "headway")],
            "bindToPodIP": True,
            # Not /tmp: the pod's own mounts cover the host's paths beneath them, and this
            # checkout (the operator's command) may live under /tmp.
            "tmpDir": "/var/tmp/headway-operator",
        },
    }


def helm(kubeconfig: Path, *args: str, timeout: float = 600) -> str:
    """Run helm against ``kubeconfig``; its output, or an error naming what failed."""
    command = [str(helm_binary()), "--kubeconfig", str(kubeconfig), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def install(
    kubeconfig: Path,
    values: dict[str, Any] | None = None,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    wait_seconds: int = 300,
    local: bool = True,
) -> str:
    """``helm upgrade --install`` and wait until the operator's pods are Ready. CRDs
    applied before by ``headway install-crds`` are adopted into the release."""
    adopt_crds(kubeconfig, release, namespace)
    merged = local_values() if local else {}
    for key, value in (values or {}).items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return helm(
        kubeconfig,
        "upgrade",
        "--install",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--create-namespace",
        "--values",
        _values_file(merged),
        "--wait",
        "--timeout",
        f"{wait_seconds}s",
        timeout=wait_seconds + 60,
    )


def adopt_crds(kubeconfig: Path, release: str, namespace: str) -> None:
    """Mark Headway's CRDs as the release's, as ``helm install`` requires of objects that
    already exist (their Executions are kept: nothing is deleted)."""
    from headway.models.base import GROUP
    from headway.models.crd import KINDS
    from headway.shell.kube import Kube, path_of

    kube = Kube(kubeconfig)
    for kind in KINDS:
        path = path_of("apiextensions.k8s.io/v1", "customresourcedefinitions", None,
                       f"{kind.plural}.{GROUP}")  # fmt: skip
        if kube.find(path) is None:
            continue
        kube.patch(
            path,
            {
                "metadata": {
                    "labels": {"app.kubernetes.io/managed-by": "Helm"},
                    "annotations": {
                        "meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": namespace,
                    },
                }
            },
        )


def _values_file(values: dict[str, Any]) -> str:
    path = REPO_ROOT / ".cluster" / "chart-values.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    return str(path)


def uninstall(kubeconfig: Path, release: str = RELEASE, namespace: str = NAMESPACE) -> str:
    return helm(kubeconfig, "uninstall", release, "--namespace", namespace, "--wait")
