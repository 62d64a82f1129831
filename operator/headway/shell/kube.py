"""A small JSON client for the Kubernetes API, on the official client's transport.

The official ``kubernetes`` package reads any kubeconfig (tokens, client
certificates, exec plugins) and signs requests; this wrapper sends plain dicts
and returns plain dicts, so callers are not tied to the generated models.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    """An API request failed; ``status`` is the HTTP status (0 when none came back)."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        self.body = body
        try:
            message = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            message = body
        self.message = str(message)  # the API server's own words
        super().__init__(f"{method} {path}: {status} {message}")


@dataclass(frozen=True)
class Server:
    """Where an API server is and how to trust it, without any credentials."""

    host: str
    ca_file: str | None
    verify: bool = True

    @staticmethod
    def of(kube: Kube) -> Server:
        configuration = kube.api.configuration
        return Server(
            str(configuration.host), configuration.ssl_ca_cert, bool(configuration.verify_ssl)
        )


class Kube:
    """JSON requests against one API server, authenticated as in ``kubeconfig``."""

    def __init__(self, kubeconfig: Path | str | None = None, context: str | None = None) -> None:
        """From ``kubeconfig`` (its ``context``, else the current one); else ``$KUBECONFIG``;
        else the in-cluster service account; else ``~/.kube/config``."""
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            self.api = client.ApiClient(configuration)
        else:
            self.api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(path) if path else None, context=context
            )

    @classmethod
    def with_token(cls, server: Server, token: str) -> Kube:
        """As the person whose bearer ``token`` this is, and nothing else (the console:
        the API server checks every call against that person's RBAC)."""
        configuration = client.Configuration()
        configuration.host, configuration.ssl_ca_cert = server.host, server.ca_file
        configuration.verify_ssl = server.ca_file is not None or server.verify
        configuration.api_key = {"authorization": f"Bearer {token}"}
        kube = cls.__new__(cls)
        kube.api = client.ApiClient(configuration)
        return kube

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] | None = 30,
        accept: str = "application/json",
    ) -> Any:
        params = [
            (k, str(v).lower() if isinstance(v, bool) else v) for k, v in (query or {}).items()
        ]
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        method_, url, headers_, _body, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=None,
            auth_settings=["BearerToken"],
        )
        # Encoded here, in C: the client's own recursive sanitizer costs more than the
        # rest of a reconcile for a large status.
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            response: urllib3.BaseHTTPResponse = self.api.rest_client.pool_manager.request(
                method_,
                url,
                body=data,
                headers=headers_,
                timeout=_timeout(timeout),
                preload_content=False,
            )
            return response
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # No answer at all (connection refused or reset, timeout): status 0.
            raise KubeError(0, method, path, f"no response from the API server: {error}") from None

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> JSON:
        response = self._send(method, path, body, **kwargs)
        data = response.read()
        response.release_conn()
        if not 200 <= response.status < 300:
            raise KubeError(response.status, method, path, data.decode(errors="replace"))
        return json.loads(data) if data else {}

    def get_text(self, path: str) -> str:
        """A plain-text resource, e.g. the API server's ``/metrics``."""
        response = self._send("GET", path, accept="text/plain, */*")
        data = response.read()
        response.release_conn()
        if not 200 <= response.status < 300:
            raise KubeError(response.status, "GET", path, data.decode(errors="replace"))
        return str(data.decode())

    def get(self, path: str, **query: Any) -> JSON:
        return self.request("GET", path, query=query)

    def find(self, path: str) -> JSON | None:
        """GET, but None when the object does not exist."""
        try:
            return self.get(path)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def create(self, path: str, body: JSON) -> JSON:
        return self.request("POST", path, body)

    def replace(self, path: str, body: JSON) -> JSON:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> JSON:
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path: str, body: JSON | None = None, **query: Any) -> JSON | None:
        """DELETE; None when the object was already gone."""
        try:
            return self.request("DELETE", path, body, query=query)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def stream_text(self, path: str, **query: Any) -> Iterator[str]:
        """Lines of a streaming text response, e.g. ``.../log?follow=true``."""
        response = self._send("GET", path, query=query, timeout=None)
        if not 200 <= response.status < 300:
            raise KubeError(response.status, "GET", path, response.read().decode(errors="replace"))
        for line in response.stream(amt=None):
            yield line.decode(errors="replace")

    def watch(self, path: str, timeout_seconds: int = 60, **query: Any) -> Iterator[JSON]:
        """Watch events (``{"type", "object"}``) of a collection, for up to ``timeout_seconds``."""
        query = {
            **query,
            "watch": True,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": True,
        }
        response = self._send("GET", path, query=query, timeout=(10, timeout_seconds + 10))
        if not 200 <= response.status < 300:
            raise KubeError(response.status, "GET", path, response.read().decode(errors="replace"))
        buffer = b""
        for chunk in response.stream(amt=None, decode_content=True):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)


def _timeout(timeout: float | tuple[float, float] | None) -> urllib3.Timeout:
    if timeout is None:
        return urllib3.Timeout(connect=10, read=None)
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)


def path_of(
    api_version: str, plural: str, namespace: str | None = None, name: str | None = None
) -> str:
    """The REST path of a collection or object: ``path_of("v1", "pods", "ns", "p")``."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{urllib.parse.quote(namespace)}"
    base += f"/{plural}"
    return f"{base}/{urllib.parse.quote(name)}" if name else base
