"""In a cluster: the webhook's TLS and the audit key live in Secrets every replica shares.

The chart creates both Secrets empty (so uninstalling removes them); the first replica
to start fills them with a write conditional on the version it read, and every other
replica reads what the winner wrote. With cert-manager, the TLS Secret is cert-manager's
and is only read. The CA is then put into the chart's webhook configurations
(``caBundle``), unless cert-manager's CA injector does it.
"""

from __future__ import annotations

import base64
import datetime
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from headway import certs
from headway.shell.kube import Kube, KubeError, path_of

JSON = dict[str, Any]
log = logging.getLogger("headway.webhook")
TLS_KEYS = ("ca.crt", "tls.crt", "tls.key")
AUDIT_KEY = "audit.key"
ATTEMPTS = 10


def _decoded(secret: JSON) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _fill(kube: Kube, namespace: str, name: str, missing: Any) -> dict[str, bytes]:
    """The Secret's data once it holds every key ``missing(data)`` would add; only the
    first writer's values survive (resourceVersion precondition)."""
    path = path_of("v1", "secrets", namespace, name)
    for _ in range(ATTEMPTS):
        secret = kube.find(path)
        if secret is None:
            raise KubeError(404, "GET", path, f'secret "{name}" not found: install with the chart')
        data = _decoded(secret)
        extra: dict[str, bytes] = missing(data)
        if not extra:
            return data
        data.update(extra)
        secret["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
        try:
            kube.replace(path, secret)
        except KubeError as error:
            if error.status != 409:
                raise
            continue  # another replica filled it first: read theirs
        log.info("filled secret %s/%s (%s)", namespace, name, ", ".join(sorted(extra)))
        return data
    raise KubeError(409, "PUT", path, "the secret kept changing")


def ensure_tls(
    kube: Kube, namespace: str, name: str, dns_names: tuple[str, ...]
) -> dict[str, bytes]:
    """A CA and a serving certificate for ``dns_names``, made once for all replicas."""

    def missing(data: dict[str, bytes]) -> dict[str, bytes]:
        if all(data.get(k) for k in TLS_KEYS):
            return {}
        now = datetime.datetime.now(datetime.UTC)
        ca = certs.new_ca("headway-webhook-ca", now)
        leaf = certs.issue(ca, dns_names[0], now, server=True, dns_names=dns_names)
        return {"ca.crt": ca.cert_pem, "tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem}

    return _fill(kube, namespace, name, missing)


def read_tls(kube: Kube, namespace: str, name: str, wait_seconds: float) -> dict[str, bytes]:
    """The TLS Secret another party (cert-manager) fills; waits for it to be filled."""
    path = path_of("v1", "secrets", namespace, name)
    deadline = time.monotonic() + wait_seconds
    while True:
        secret = kube.find(path)
        data = _decoded(secret) if secret else {}
        if all(data.get(k) for k in ("tls.crt", "tls.key")):
            return data
        if time.monotonic() > deadline:
            raise KubeError(404, "GET", path, f'secret "{name}" has no certificate yet')
        time.sleep(2)


def ensure_audit_key(kube: Kube, namespace: str, name: str) -> bytes:
    """The key that signs recorded identities, made once for all replicas."""

    def missing(data: dict[str, bytes]) -> dict[str, bytes]:
        return {} if data.get(AUDIT_KEY) else {AUDIT_KEY: secrets.token_bytes(32)}

    return _fill(kube, namespace, name, missing)[AUDIT_KEY]


def write_files(data: dict[str, bytes], directory: Path) -> tuple[Path, Path]:
    """tls.crt and tls.key on disk, for the webhook server."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(data["tls.crt"])
    key.write_bytes(data["tls.key"])
    key.chmod(0o600)
    return cert, key


def inject_ca_bundle(kube: Kube, configurations: list[tuple[str, str]], ca: bytes) -> None:
    """Put ``ca`` into every webhook of each (kind plural, name) configuration, each a
    write conditional on the version read."""
    bundle = base64.b64encode(ca).decode()
    for plural, name in configurations:
        path = path_of("admissionregistration.k8s.io/v1", plural, None, name)
        for _ in range(ATTEMPTS):
            config = kube.find(path)
            if config is None:
                raise KubeError(404, "GET", path, f'{plural} "{name}" not found')
            hooks = config.get("webhooks") or []
            if all(h.get("clientConfig", {}).get("caBundle") == bundle for h in hooks):
                break
            for hook in hooks:
                hook.setdefault("clientConfig", {})["caBundle"] = bundle
            try:
                kube.replace(path, config)
                log.info("set the CA bundle of %s %s", plural, name)
                break
            except KubeError as error:
                if error.status != 409:
                    raise
