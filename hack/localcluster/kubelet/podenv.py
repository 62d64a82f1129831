"""A container's environment, resolved as the kubelet does.

Order and precedence follow Kubernetes: the "image" environment (here the
host's PATH and HOME), service variables for the API server, ``envFrom``
sources, then ``env`` entries in order, each able to refer to earlier ones
with ``$(NAME)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

JSON = dict[str, Any]
# Reads a key of a ConfigMap or Secret: (kind, namespace, name) -> data, or None if absent.
SourceReader = Callable[[str, str, str], Mapping[str, str] | None]

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class EnvError(Exception):
    """The environment cannot be built (a missing ConfigMap, key, ...)."""


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names are replaced, unknown ones kept,
    and ``$$`` escapes a dollar."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return variables.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def field_value(pod: JSON, field_path: str) -> str:
    """The value of a downward-API ``fieldRef.fieldPath`` for ``pod``."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs", [])),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
    }
    if field_path in simple:
        return str(simple[field_path])
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        items = meta.get(source) or {}
        if field_path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
        match = re.fullmatch(re.escape(prefix) + r"\['(.+)'\]", field_path)
        if match:
            return str(items.get(match.group(1), ""))
    raise EnvError(f"unsupported fieldPath {field_path!r}")


def _source(
    read: SourceReader, kind: str, namespace: str, name: str, optional: bool
) -> Mapping[str, str]:
    data = read(kind, namespace, name)
    if data is None:
        if optional:
            return {}
        raise EnvError(f'{kind} "{name}" not found')
    return data


def build(
    pod: JSON,
    container: JSON,
    base: Mapping[str, str],
    read: SourceReader,
) -> dict[str, str]:
    """The full environment of ``container``; ``base`` is the image and service environment."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(key)
            if ref:
                data = _source(read, kind, namespace, ref["name"], bool(ref.get("optional")))
                env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env)
            continue
        value_from = var["valueFrom"]
        if "fieldRef" in value_from:
            env[name] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in value_from:
            env[name] = _resource_value(container, value_from["resourceFieldRef"])
        else:
            kind, ref = (
                ("configmap", value_from["configMapKeyRef"])
                if "configMapKeyRef" in value_from
                else ("secret", value_from["secretKeyRef"])
            )
            optional = bool(ref.get("optional"))
            data = _source(read, kind, namespace, ref["name"], optional)
            if ref["key"] in data:
                env[name] = data[ref["key"]]
            elif not optional:
                raise EnvError(f'key "{ref["key"]}" not found in {kind} "{ref["name"]}"')
    return env


def _resource_value(container: JSON, ref: JSON) -> str:
    kind, _, resource = ref["resource"].partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(resource)
    return str(value) if value is not None else "0"


def image_environment(pod: JSON, api_host: str, api_port: int) -> dict[str, str]:
    """What every container starts with: the host's PATH and HOME stand in for the
    image's environment, plus the API server's service variables."""
    port = str(api_port)
    return {
        "PATH": os.environ.get(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "HOME": os.environ.get("HOME", "/root"),
        "HOSTNAME": pod["metadata"]["name"],
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{api_host}:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{api_host}:{port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_ADDR": api_host,
        "KUBERNETES_PORT_443_TCP_PORT": port,
    }
