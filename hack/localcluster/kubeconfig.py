"""Kubeconfig files for the admin, the test users and the control plane."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def render(server: str, ca_pem: bytes, user: str, token: str, namespace: str = "default") -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "headway-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": f"{user}@headway-local",
                "context": {"cluster": "headway-local", "user": user, "namespace": namespace},
            }
        ],
        "current-context": f"{user}@headway-local",
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(path: Path, server: str, ca_pem: bytes, user: str, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(server, ca_pem, user, token))
    path.chmod(0o600)
