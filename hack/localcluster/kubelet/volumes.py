"""Pod volumes, materialised as directories on the host.

Each volume becomes ``<pod dir>/volumes/<name>``; the launcher bind-mounts it
at every ``volumeMounts[].mountPath`` inside the container's mount namespace.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headway.shell.kube import Kube, KubeError, path_of
from localcluster.kubelet.podenv import EnvError, field_value

JSON = dict[str, Any]
DEFAULT_MODE = 0o644
TOKEN_SECONDS = 3607


class VolumeError(Exception):
    """A volume cannot be set up yet (missing ConfigMap, token refused, ...)."""


def read_source(kube: Kube, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
    """A ConfigMap's or Secret's data as text, or None when it does not exist."""
    plural = "configmaps" if kind == "configmap" else "secrets"
    obj = kube.find(path_of("v1", plural, namespace, name))
    if obj is None:
        return None
    if kind == "secret":
        return {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("data") or {}).items()
        }
    data = dict(obj.get("data") or {})
    data.update(
        {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("binaryData") or {}).items()
        }
    )
    return data


def _write(directory: Path, relative: str, content: str | bytes, mode: int) -> None:
    target = directory / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    target.chmod(mode)


class Volumes:
    """Sets up the volumes of one pod under ``pod_dir``."""

    def __init__(self, kube: Kube, pod: JSON, pod_dir: Path) -> None:
        self.kube = kube
        self.pod = pod
        self.root = pod_dir / "volumes"
        self.namespace = pod["metadata"]["namespace"]

    def path(self, name: str) -> Path:
        volume = next((v for v in self.pod["spec"].get("volumes") or [] if v["name"] == name), None)
        if volume and "hostPath" in volume:
            return Path(volume["hostPath"]["path"])
        return self.root / name

    def setup_all(self) -> None:
        for volume in self.pod["spec"].get("volumes") or []:
            try:
                self._setup(volume)
            except (EnvError, KubeError) as error:
                raise VolumeError(f'volume "{volume["name"]}": {error}') from error

    def _setup(self, volume: JSON) -> None:
        target = self.root / volume["name"]
        target.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            return
        if "hostPath" in volume:
            host = volume["hostPath"]
            if host.get("type") in ("DirectoryOrCreate",):
                os.makedirs(host["path"], exist_ok=True)
            return
        if "configMap" in volume or "secret" in volume:
            kind = "configmap" if "configMap" in volume else "secret"
            ref = volume.get("configMap") or volume["secret"]
            name = ref.get("name") or ref.get("secretName")
            self._project_source(target, kind, name, ref, ref.get("defaultMode", DEFAULT_MODE))
        elif "downwardAPI" in volume:
            self._project_fields(
                target,
                volume["downwardAPI"],
                volume["downwardAPI"].get("defaultMode", DEFAULT_MODE),
            )
        elif "projected" in volume:
            projected = volume["projected"]
            mode = projected.get("defaultMode", DEFAULT_MODE)
            for source in projected.get("sources") or []:
                if "serviceAccountToken" in source:
                    self._project_token(target, source["serviceAccountToken"], mode)
                elif "configMap" in source:
                    self._project_source(
                        target, "configmap", source["configMap"]["name"], source["configMap"], mode
                    )
                elif "secret" in source:
                    self._project_source(
                        target, "secret", source["secret"]["name"], source["secret"], mode
                    )
                elif "downwardAPI" in source:
                    self._project_fields(target, source["downwardAPI"], mode)
        else:
            raise VolumeError(f'volume "{volume["name"]}": type not supported by the local kubelet')

    def _project_source(self, target: Path, kind: str, name: str, ref: JSON, mode: int) -> None:
        data = read_source(self.kube, kind, self.namespace, name)
        if data is None:
            if ref.get("optional"):
                return
            raise VolumeError(f'{kind} "{name}" not found')
        items = ref.get("items")
        if not items:
            for key, value in data.items():
                _write(target, key, value, mode)
            return
        for item in items:
            if item["key"] not in data:
                if ref.get("optional"):
                    continue
                raise VolumeError(f'key "{item["key"]}" not found in {kind} "{name}"')
            _write(target, item["path"], data[item["key"]], item.get("mode", mode))

    def _project_fields(self, target: Path, source: JSON, mode: int) -> None:
        for item in source.get("items") or []:
            if "fieldRef" in item:
                _write(
                    target,
                    item["path"],
                    field_value(self.pod, item["fieldRef"]["fieldPath"]),
                    item.get("mode", mode),
                )

    def _project_token(self, target: Path, source: JSON, mode: int) -> None:
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName") or "default"
        request: JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [source["audience"]] if source.get("audience") else [],
                "expirationSeconds": source.get("expirationSeconds", TOKEN_SECONDS),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        path = path_of("v1", "serviceaccounts", self.namespace, account) + "/token"
        token = self.kube.create(path, request)["status"]["token"]
        _write(target, source["path"], token, mode)
