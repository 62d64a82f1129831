"""The webhook's files: its serving certificate (made once with our own CA unless one
is mounted) and the key that signs the identities it records."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from pathlib import Path

from headway import certs

AUDIT_KEY = "audit.key"


def ensure_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.crt, tls.crt, tls.key) in ``directory``: made once, kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "tls.crt",
        directory / "tls.key",
    )
    if not (ca_path.exists() and cert_path.exists() and key_path.exists()):
        now = datetime.datetime.now(datetime.UTC)
        ca = certs.new_ca("headway-webhook-ca", now)
        try:
            ipaddress.ip_address(host)
            leaf = certs.issue(ca, host, now, server=True, ip_addresses=(host,))
        except ValueError:
            leaf = certs.issue(ca, host, now, server=True, dns_names=(host,))
        ca_path.write_bytes(ca.cert_pem)
        cert_path.write_bytes(leaf.cert_pem)
        key_path.write_bytes(leaf.key_pem)
        key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def ensure_audit_key(directory: Path) -> bytes:
    """The secret that signs recorded identities: made once, kept in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / AUDIT_KEY
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()
